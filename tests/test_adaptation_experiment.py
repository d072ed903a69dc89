"""experiments.adaptation's smoke run (1,000 images, 1 epoch): every delta's file decodes
against the reference it names and refuses another, the frozen part of the head-only delta
is the reference's bit for bit, and every figure the summary reports is there."""

import numpy as np
import pytest


def test_the_smoke_run_writes_decodable_deltas_and_reports_every_figure(tmp_path, mnist_dir):
    from experiments.adaptation import SCRATCH_BETAS, deltas, main, new_model
    from mdl.codec.errors import CodecError
    from mdl.compress import decode_delta, leaves_with_paths
    from mdl.compress.files import decode_compressed, split_params

    summary = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)])
    ref_file = (tmp_path / "reference.mdl").read_bytes()
    reference = dict(leaves_with_paths(split_params(decode_compressed(ref_file, new_model()))[1]))
    assert set(summary["arms"]) == {"all", "small"}
    for arm, arm_summary in summary["arms"].items():
        assert set(arm_summary["deltas"]) == set(deltas())
        assert set(arm_summary["scratch"]) == {f"{SCRATCH_BETAS[0]:g}"}
        for name, row in arm_summary["deltas"].items():
            data = (tmp_path / f"{arm}_delta_{name}.mdl").read_bytes()
            assert row["delta_bits"] == 8 * len(data)
            assert row["two_part_bits"] == pytest.approx(row["train_data_bits"] + row["delta_bits"])
            assert 0 <= row["test_error"] <= 1 and 0 <= row["train_error"] <= 1
            decoded = decode_delta(data, ref_file, new_model())
            adapted = dict(leaves_with_paths(split_params(decoded)[1]))
            if name == "head":  # only the head moved
                for path, w in adapted.items():
                    if not path.startswith("head/"):
                        assert np.array_equal(np.asarray(w), np.asarray(reference[path])), path
            with pytest.raises(CodecError, match="another reference"):
                other = (tmp_path / f"{arm}_scratch_beta1.mdl").read_bytes()
                decode_delta(data, other, new_model())
        best = arm_summary["best"]
        if best is not None:
            scratch = arm_summary["scratch"]["1"]
            assert arm_summary["deltas"][best["delta"]]["test_error"] <= scratch["test_error"]
            assert best["bits_ratio"] == pytest.approx(best["delta_bits"] / scratch["file_bits"])


def test_the_committed_deltas_decode_to_their_reported_test_errors(mnist_dir):
    """The committed full run's files: each arm's deltas, against the committed reference, and
    its beta-1 scratch model decode to the test errors the summary reports."""
    import json
    from pathlib import Path

    from experiments.adaptation import TARGET, figures, new_model
    from mdl.compress import decode_delta, load_compressed
    from mdl.data import load, with_classes

    folder = Path(__file__).resolve().parents[1] / "experiments/results/adaptation"
    summary = json.loads((folder / "summary.json").read_text())
    ref_file = (folder / "reference.mdl").read_bytes()
    target = with_classes(load("mnist", root=mnist_dir), TARGET)
    for arm, runs in summary["arms"].items():
        for name, row in runs["deltas"].items():
            data = (folder / f"{arm}_delta_{name}.mdl").read_bytes()
            assert 8 * len(data) == row["delta_bits"]
            model = decode_delta(data, ref_file, new_model())
            assert figures(model, target, "test")[1] == row["test_error"], (arm, name)
        scratch = load_compressed(folder / f"{arm}_scratch_beta1.mdl", new_model())
        assert figures(scratch, target, "test")[1] == runs["scratch"]["1"]["test_error"], arm
