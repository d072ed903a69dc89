"""Smoke runs of the benchmarks, end to end, as a user runs them."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def test_train_step_benchmark_smoke():
    figures = run_benchmark_smoke("train_step")
    assert figures["model"] == "lenet_300_100" and figures["batch"] == 128
    for key in ("plain_step_ms", "compressed_step_ms"):  # a step of lenet-300-100 on a CPU
        assert 0.01 < figures[key] < 10_000, (key, figures[key])
    # The slowdown is the ratio of the two printed times (not, say, its inverse).
    ratio = figures["compressed_step_ms"] / figures["plain_step_ms"]
    assert figures["slowdown"] == pytest.approx(ratio, rel=1e-9)


def test_sweep_benchmark_smoke():
    summary = run_benchmark_smoke("sweep")
    assert summary["points"] == 8 and summary["speedup"] > 0 and summary["peak_memory_mb"] > 0
    assert summary["end_to_end_speedup"] > 0


def test_gpu_benchmark_smoke():
    figures = run_benchmark_smoke("gpu")
    assert figures["smoke"] is True and figures["device_count"] >= 1
    for key in ("platform", "device_kind", "jax_version"):
        assert isinstance(figures[key], str) and figures[key], key
    sweep = ("vmapped_seconds", "sequential_seconds", "speedup")
    sweep += ("vmapped_point_steps_per_s", "sequential_point_steps_per_s")
    step = ("plain_step_ms", "compressed_step_ms", "slowdown")
    timed = [f"{m}_{f}" for m in ("mlp", "convnet") for f in sweep]
    timed += [f"{m}_{f}" for m in ("lenet_300_100", "lenet5") for f in step]
    timed += ["end_to_end_seconds", "end_to_end_points_per_s"]
    for key in timed:
        assert math.isfinite(figures[key]) and figures[key] > 0, (key, figures.get(key))
    assert figures["end_to_end_points"] == figures["sweep_points"] >= 1
    # Throughput is the work over the printed seconds (not, say, its inverse).
    work = figures["sweep_points"] * figures["sweep_epochs"] * figures["sweep_steps_per_epoch"]
    assert figures["mlp_vmapped_point_steps_per_s"] == pytest.approx(
        work / figures["mlp_vmapped_seconds"], rel=1e-9
    )


def test_text_codec_benchmark_smoke_round_trips_and_reports_ratios():
    figures = run_benchmark_smoke("text_codec")
    for method in ("online", "two_part"):
        assert figures[f"{method}_encode_chars_per_s"] > 0
        assert figures[f"{method}_decode_over_encode"] > 0
        assert figures[f"{method}_encode_time_over_lzma"] > 0
    assert figures["chars"] == 20_000


def test_prequential_benchmark_smoke_decodes_exactly():
    figures = run_benchmark_smoke("prequential")
    assert figures["exact"] is True and figures["labels"] == 600
    assert figures["decode_over_encode"] == pytest.approx(
        figures["decode_s"] / figures["encode_s"], rel=1e-9
    )
    assert figures["file_bits"] < 600 * math.log2(10) + 2000  # a code, not a blow-up
