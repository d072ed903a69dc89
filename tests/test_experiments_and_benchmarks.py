"""Smoke runs of the demo experiment and the benchmarks, end to end."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_demo_smoke_codes_labels_for_real(tmp_path):
    from experiments.digits_label_code import main

    summary = main(["--smoke", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["uniform_bits"] == summary["test_examples"] * math.log2(10)
    # The file holds at least the ideal payload and costs at most that plus the coder's state
    # and sentinel (96 bits) and the container and metadata (48 bytes).
    assert summary["codec_payload_bits"] >= summary["estimate_bits"] - 64
    assert summary["codec_file_bits"] <= summary["estimate_bits"] * 1.001 + 96 + 8 * 48


def run_benchmark_smoke(name: str) -> dict:
    """Run ``benchmarks/NAME.py --smoke`` as a user would; its last line is its JSON figures."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--smoke"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_codec_benchmark_smoke_prints_json_last():
    figures = run_benchmark_smoke("codec")
    for key in (
        "overhead_fraction",
        "laplace_overhead_fraction",
        "encode_symbols_per_s",
        "decode_symbols_per_s",
        "lzma_over_ours",
    ):
        assert key in figures
    assert 0 <= figures["overhead_fraction"] < 0.05  # 10^4 symbols: header is ~1% of the file


def test_mnist_bound_smoke_is_non_vacuous_and_vacuous_on_random_labels(tmp_path, mnist_dir):
    """The same pipeline gives a bound below chance on MNIST and at least the true error
    (about 90%) of a model of randomly permuted labels."""
    from experiments.mnist_bound import main

    real = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path / "real")])
    assert real["train_error"] <= real["error_bound"] < 0.9
    assert real["test_error"] <= real["error_bound"]
    assert real["code_bits"] > 8 * real["file_bytes"]  # the file plus its length's code
    shuffled = main(
        [
            "--smoke",
            "--shuffle-labels",
            "--data-root",
            str(mnist_dir),
            "--out",
            str(tmp_path / "shuffled"),
        ]
    )
    assert shuffled["error_bound"] >= 0.85
    assert shuffled["test_error"] >= 0.85


def test_lenet_compression_smoke_writes_loadable_files(tmp_path, mnist_dir):
    from experiments.lenet_compression import main
    from mdl.compress import load_compressed

    summary = main(["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)])
    for name, params in (("lenet_300_100", 266_610), ("lenet5", 431_080)):
        row = summary[name]
        assert set(row) >= {"file_bytes", "ratio", "test_error", "sparsity", "model_file"}
        path = tmp_path / row["model_file"]
        assert path.stat().st_size == row["file_bytes"]
        assert row["ratio"] == pytest.approx(4 * params / row["file_bytes"])
        assert 0 <= row["sparsity"] <= 1 and 0 <= row["test_error"] <= 1
        load_compressed(path)


def test_train_step_benchmark_smoke():
    figures = run_benchmark_smoke("train_step")
    assert figures["slowdown"] > 0 and figures["plain_step_ms"] > 0


def test_sweep_benchmark_smoke():
    summary = run_benchmark_smoke("sweep")
    assert summary["points"] == 8 and summary["speedup"] > 0 and summary["peak_memory_mb"] > 0
    assert summary["end_to_end_speedup"] > 0


def test_codelength_table_smoke_orders_the_codes(tmp_path, mnist_dir):
    from experiments import codelength_table

    summary = codelength_table.main(
        ["--smoke", "--data-root", str(mnist_dir), "--out", str(tmp_path)]
    )
    for key in ("uniform_bits", "two_part_bits", "variational_bits", "prequential_bits"):
        assert summary[key] > 0
        if key != "uniform_bits":
            assert 0 <= summary[key.replace("_bits", "_test_accuracy")] <= 1
    assert summary["uniform_bits"] == pytest.approx(3000 * np.log2(10))
    # On a learnable task the online code beats uniform; float32 parameters do not.
    assert summary["prequential_bits"] < 0.5 * summary["uniform_bits"]
    assert summary["float32_two_part_bits"] > 100 * summary["uniform_bits"]
    assert (tmp_path / "reports.json").exists()
