"""The generalization-measures experiment, smoke size: its Kendall taus are those of its
per-model rows, its file bits are the files on disk, and the models decoded from those files
are the ones whose train error it recorded."""

import json
import math

import numpy as np
import pytest
from scipy.stats import kendalltau

# Measures the experiment must rank; each must vary over the smoke grid (a defined tau).
REQUIRED = (
    "file_bits",
    "two_part_bits",
    "variational_bits",
    "prequential_bits",
    "l2_norm",
    "spectral_norm_product",
    "parameter_count",
    "train_loss",
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, mnist_dir):
    from experiments.generalization_measures import main

    out = tmp_path_factory.mktemp("generalization_measures")
    summary = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(out)])
    return out, summary


def test_summary_is_on_disk_and_counts_the_models(smoke):
    out, summary = smoke
    assert json.loads((out / "summary.json").read_text()) == summary
    rows = summary["models"]
    assert summary["num_models"] == len(rows) == 8
    lines = (out / "models.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == rows
    assert len({row["model_file"] for row in rows}) == 8
    for key in ("command", "git_commit", "machine", "wall_seconds", "versions"):
        assert key in summary
    assert summary["machine"]["cpu_count"] >= 1 and summary["wall_seconds"] > 0
    assert set(REQUIRED) <= set(summary["kendall_tau"])


def test_taus_equal_an_independent_recomputation_from_the_rows(smoke):
    _, summary = smoke
    rows = summary["models"]
    gaps = [row["test_error"] - row["train_error"] for row in rows]
    assert [row["gap"] for row in rows] == pytest.approx(gaps, abs=1e-12)
    for measure, tau in summary["kendall_tau"].items():
        values = [row[measure] for row in rows]
        expected = float(kendalltau(values, gaps).statistic)
        if measure in REQUIRED:
            assert tau is not None, f"{measure} is constant over the smoke grid: {values}"
        if tau is None:  # undefined only for a measure that does not vary
            assert math.isnan(expected) and len(set(values)) == 1, measure
            continue
        assert -1.0 <= tau <= 1.0, measure
        assert tau == pytest.approx(expected, abs=1e-12), measure
    for measure, psi in summary["granulated_kendall_tau"].items():
        for value in psi.values():
            assert value is None or -1.0 <= value <= 1.0, measure


def test_file_bits_are_the_size_of_the_files_on_disk(smoke):
    out, summary = smoke
    for row in summary["models"]:
        assert row["file_bits"] == 8 * (out / row["model_file"]).stat().st_size
        assert row["two_part_bits"] == pytest.approx(
            row["structure_bits"] + row["file_bits"] + row["train_data_bits"]
        )


def test_decoded_models_reproduce_the_recorded_train_error(smoke, mnist_dir):
    from mdl.compress.files import load_compressed
    from mdl.data import load
    from mdl.inference import evaluate
    from mdl.models.catalog import reference_model
    from mdl.params import split_params
    from mdl.sweep import noisy_labels

    out, summary = smoke
    data = load("mnist", root=mnist_dir)
    pool = summary["settings"]["pool"]
    for row in summary["models"]:
        n, seed = row["train_size"], row["seed"]
        spec = {"name": "MLP", "hidden": [row["width"]] * row["depth"], "pool": pool}
        template = reference_model(spec, data, seed=seed + 1)  # its weights are replaced
        model = load_compressed(out / row["model_file"], template)
        graphdef, weights = split_params(model)
        labels = noisy_labels(data.y_train[:n], row["label_noise"], seed, data.num_classes)
        bits, error = evaluate(graphdef, weights, data.x_train[:n], labels)
        assert error == row["train_error"]
        assert bits == pytest.approx(row["train_data_bits"], rel=1e-6)
        leaves = [np.asarray(w, np.float64) for w in _leaves(weights)]
        assert math.sqrt(sum(float(np.sum(w**2)) for w in leaves)) == pytest.approx(
            row["l2_norm"], rel=1e-9
        )
        spectral = np.prod([np.linalg.svd(w, compute_uv=False)[0] for w in leaves if w.ndim == 2])
        assert spectral == pytest.approx(row["spectral_norm_product"], rel=1e-6)


def _leaves(tree):
    import jax

    return jax.tree.leaves(tree)
