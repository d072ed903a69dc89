"""experiments.transfer_bound: the reference's and the sample's indices partition the
training set (the independence the bound rests on), and the smoke run's bound is the Occam
bound of its chosen hypothesis, charged for every configuration."""

import math

import numpy as np
import pytest


def test_the_split_is_a_fixed_partition():
    from experiments.transfer_bound import REFERENCE_SIZE, split

    reference, sample = split(60_000, REFERENCE_SIZE)
    assert reference.size == REFERENCE_SIZE and sample.size == 60_000 - REFERENCE_SIZE
    assert np.intersect1d(reference, sample).size == 0
    assert np.array_equal(np.union1d(reference, sample), np.arange(60_000))
    again, _ = split(60_000, REFERENCE_SIZE)
    assert np.array_equal(reference, again)  # fixed in advance: the same split every run


def test_the_smoke_bound_is_the_chosen_hypothesis_occam_bound(tmp_path, mnist_dir):
    from experiments.transfer_bound import CONFIGURATIONS, main
    from mdl.bounds import occam_bound

    summary = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)])
    assert summary["reference_sample_overlap"] == 0
    for c in summary["candidates"]:
        assert c["configuration"] in CONFIGURATIONS
        assert c["code_parts"]["configuration_index"] == pytest.approx(
            math.log2(len(CONFIGURATIONS))
        )
        if c["file_bytes"]:
            assert c["code_parts"]["file"] == 8 * (tmp_path / c["delta_file"]).stat().st_size
        assert c["error_bound"] == pytest.approx(
            float(occam_bound(c["train_error"], c["code_bits"], summary["m"], summary["delta"]))
        )
    assert summary["error_bound"] == min(c["error_bound"] for c in summary["candidates"])
    assert summary["error_bound"] >= summary["train_error"]


def test_the_committed_bound_meets_the_acceptance_and_its_hypothesis_decodes_to_it(mnist_dir):
    """The committed full run: at or below 9.0%, the reference trained on indices disjoint from
    the sample, and the chosen hypothesis (the committed reference file, plus the chosen delta
    when there is one) has the reported training error on the sample's rows."""
    import json
    from pathlib import Path

    from experiments.transfer_bound import REFERENCE_SIZE, error_of, new_model, split
    from mdl.bounds import occam_bound
    from mdl.compress import decode_delta
    from mdl.compress.files import decode_compressed
    from mdl.data import load

    folder = Path(__file__).resolve().parents[1] / "experiments/results/transfer_bound"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["error_bound"] <= 0.09 and summary["reference_sample_overlap"] == 0
    assert summary["error_bound"] == pytest.approx(
        float(occam_bound(summary["train_error"], summary["code_bits"], summary["m"], 0.05))
    )
    ref_file = (folder / "reference.mdl").read_bytes()
    model = decode_compressed(ref_file, new_model())
    chosen = next(
        c for c in summary["candidates"] if c["configuration"] == summary["configuration"]
    )
    if chosen["file_bytes"]:
        model = decode_delta((folder / chosen["delta_file"]).read_bytes(), ref_file, new_model())
    data = load("mnist", root=mnist_dir)
    _, sample = split(len(data.y_train), REFERENCE_SIZE)
    assert sample.size == summary["m"]
    assert error_of(model, data.x_train[sample], data.y_train[sample]) == summary["train_error"]
