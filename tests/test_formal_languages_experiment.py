"""experiments.formal_languages: its smoke size in the suite; the committed full run's page."""

import json
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from mdl.compress.files import load_compressed
from mdl.data.formal_languages import load_formal_language, string_bits

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_codes_are_real_files_and_the_golden_network_counts(tmp_path):
    from experiments.formal_languages import main

    summary = main(["--smoke", "--out", str(tmp_path)])
    config = summary["config"]
    result = summary["languages"]["anbn"]
    for arm in (result, result["baseline"]):
        for key in ("max_correct_n", "two_part_bits", "test_cross_entropy"):
            assert key in arm
        assert arm["two_part_bits"] == pytest.approx(sum(arm["parts"].values()))
        assert 0 < arm["optimal_cross_entropy"] < 2 and arm["test_cross_entropy"] > 0
        # The written network decodes to the weights the page shows, and its predictions are
        # the ones evaluated (a file, not an estimate).
        model = load_compressed(tmp_path / arm["network"]["file"])
        weights = json.loads((tmp_path / arm["network"]["weights"]).read_text())
        for name, value in model.tensors().items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(weights[name], np.float32))
        assert (tmp_path / arm["network"]["file"]).stat().st_size == arm["network"]["file_bytes"]
    # The hand-set counter is exactly right at every n evaluated and beyond. Its data file
    # needs no length code (every string ends with #): it stays within 1.5x the training law's
    # own code of the strings (a uniform length code would add log2(62) ~ 6 bits a string).
    golden = summary["golden_anbn"]
    assert golden["max_correct_n"] == config["max_n"]
    assert all(golden["correct_beyond"].values())
    strings = load_formal_language("anbn", num_train=500, p=0.3, max_n=30).extras["strings_train"]
    law = sum(string_bits("anbn", s, 0.3) for s in strings)
    assert law < golden["parts"]["data"] < 1.5 * law
    # Resuming: a second run reuses the finished language instead of training again.
    again = main(["--smoke", "--out", str(tmp_path)])
    assert again["languages"] == summary["languages"]


def test_exact_evaluation_finds_the_first_failure_worked_out_by_hand():
    """A golden-style a^n b^n network whose b's subtract 1 + 1/64 instead of 1: after n a's and
    k b's its count is n - 65 k / 64, and it predicts the end once "b read and count below
    1/3" (12 (1 - count) > 8). With one b left (k = n - 1) the count is 1 - (n - 1) / 64, below
    1/3 from n = 44 on; earlier positions fail only from n = 109. So every n <= 43 is right and
    n = 44 is the first failure: max_correct_n = 43."""
    from flax import nnx

    from experiments.formal_languages import correct_strings, max_correct_n
    from mdl.models import CountingRNN

    model = CountingRNN(3, state=1, readout=4, rngs=nnx.Rngs(0))
    tensors = {
        "embed": [[0.0], [1.0], [-1.015625]],  # rows #, a, b
        "decay": [1.0],
        # rows: count, # read, a read, b read; units: b read and count low, b, a, #
        "hidden": [[-1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 1, 0, 0]],
        "hidden_bias": [0, 0, 0, 0],
        "output": [[12, 0, 0], [0, 0, 4], [0, 0.75, 0], [0, 4, 0]],  # columns #, a, b
        "output_bias": [-4, 0, 0],
    }
    model.weights[...] = jnp.concatenate(
        [jnp.asarray(tensors[k], jnp.float32).reshape(-1) for k in model.shapes()]
    )
    assert max_correct_n(model, "anbn", 200) == 43
    ok = correct_strings(model, "anbn", [43, 44, 108, 109])
    assert ok.tolist() == [True, False, False, False]


def test_page_numbers_are_the_committed_summary():
    path = ROOT / "experiments" / "results" / "formal_languages" / "summary.json"
    if not path.exists():
        pytest.fail("experiments/results/formal_languages/summary.json is not committed")
    summary = json.loads(path.read_text())
    page = (ROOT / "experiments" / "formal_languages.md").read_text()
    for name, result in summary["languages"].items():
        row = next(line for line in page.splitlines() if line.startswith(f"| {name} "))
        cells = [c.strip() for c in row.strip("|").split("|")]
        numbers = [c.replace(",", "") for c in cells[1:]]
        expected = [
            str(result["max_correct_n"]),
            f"{result['two_part_bits']:.0f}",
            f"{result['test_cross_entropy']:.3f}",
            f"{result['optimal_cross_entropy']:.3f}",
            str(result["baseline"]["max_correct_n"]),
            f"{result['baseline']['two_part_bits']:.0f}",
            f"{result['baseline']['test_cross_entropy']:.3f}",
            f"{result['restarts_correct_to_max_n']}/{len(result['restarts'])}",
            f"{result['baseline']['runs_correct_to_max_n']}/{len(result['baseline']['runs'])}",
        ]
        assert numbers == expected, (name, numbers, expected)
    assert re.search(r"\b2 CPU cores\b", page)


def test_committed_figure_is_drawn_from_the_committed_summary(tmp_path):
    from experiments.formal_languages import write_figure

    results = ROOT / "experiments" / "results" / "formal_languages"
    summary = json.loads((results / "summary.json").read_text())
    drawn = write_figure(summary, tmp_path / "figure.png").read_bytes()
    assert drawn == (results / "reach_vs_code.png").read_bytes()
    docs = ROOT / "docs" / "figures" / "formal_languages_reach_vs_code.png"
    assert docs.read_bytes() == drawn
    page = (ROOT / "experiments" / "formal_languages.md").read_text()
    assert "../docs/figures/formal_languages_reach_vs_code.png" in page
