"""experiments.distillation's smoke run: every student's figures come from its file alone (no
teacher anywhere in the check), and 'helps' says what the rows say."""

import jax.numpy as jnp
import numpy as np
import pytest

from mdl.compress import load_compressed
from mdl.data import load
from mdl.estimators import two_part


def test_students_are_their_files_and_the_teacher_is_not_in_the_code(tmp_path, mnist_dir):
    from experiments.distillation import ALPHA, main

    summary = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)])
    data = load("mnist", root=mnist_dir)
    x_train, y_train = data.x_train[:2000], data.y_train[:2000]
    x_test, y_test = data.x_test[:1000], data.y_test[:1000]
    assert {(r["channels"], r["alpha"]) for r in summary["students"]} == {
        (c, a) for c in (4, 2) for a in (0.0, ALPHA)
    }
    for row in summary["students"]:
        path = tmp_path / row["model_file"]
        assert path.stat().st_size == row["file_bytes"]
        student = load_compressed(path)
        predictions = np.asarray(student(jnp.asarray(x_test, jnp.float32))).argmax(-1)
        assert row["test_error"] == pytest.approx(np.mean(predictions != y_test), abs=1e-12)
        # the labels' part of the two-part code, recomputed from the decoded student and the
        # labels only, is the reported one
        again = two_part(student, x_train, y_train)
        assert again.parts["data"] == row["two_part_parts"]["data"]
        assert row["two_part_bits"] == pytest.approx(sum(row["two_part_parts"].values()))
    by = {(r["channels"], r["alpha"]): r for r in summary["students"]}
    for c, helps in summary["helps"].items():
        plain, distilled = by[int(c), 0.0], by[int(c), ALPHA]
        assert helps["lower_test_error"] == (distilled["test_error"] < plain["test_error"])
        assert helps["shorter_two_part"] == (distilled["two_part_bits"] < plain["two_part_bits"])
    assert (tmp_path / "pareto.png").stat().st_size > 5000


def test_the_committed_run_is_its_page_figure_and_files():
    """The committed full run: the docs' figure is the run's, each student's file has its
    recorded size, and 'helps' is what the rows say."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = root / "experiments" / "results" / "distillation"
    summary = json.loads((out / "summary.json").read_text())
    figure = root / "docs" / "figures" / "distillation_pareto.png"
    assert figure.read_bytes() == (out / "pareto.png").read_bytes()
    for row in summary["students"]:
        assert (out / row["model_file"]).stat().st_size == row["file_bytes"]
    by = {(r["channels"], r["alpha"]): r for r in summary["students"]}
    for c, helps in summary["helps"].items():
        plain, distilled = by[int(c), 0.0], by[int(c), summary["alpha"]]
        assert helps["lower_test_error"] == (distilled["test_error"] < plain["test_error"])
