"""Smoke runs of the demo experiment and the benchmarks, end to end."""

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_smoke_codes_labels_for_real(tmp_path):
    from experiments.digits_label_code import main

    summary = main(["--smoke", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["uniform_bits"] == summary["test_examples"] * math.log2(10)
    # The file holds at least the ideal payload and costs at most that plus its header.
    assert summary["codec_payload_bits"] >= summary["estimate_bits"] - 64
    assert summary["codec_file_bits"] <= summary["estimate_bits"] * 1.001 + 64 + 8 * 48


def test_codec_benchmark_smoke_prints_json_last():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "codec.py"), "--smoke"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "overhead_fraction",
        "laplace_overhead_fraction",
        "encode_symbols_per_s",
        "decode_symbols_per_s",
        "lzma_over_ours",
    ):
        assert key in figures
    assert 0 <= figures["overhead_fraction"] < 0.05  # 10^4 symbols: header is ~1% of the file
