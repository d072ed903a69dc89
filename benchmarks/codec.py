"""Codec benchmark: real rANS bits against the information content, throughput, and general
purpose compressors on the same symbols.

    python benchmarks/codec.py [--smoke]

Two workloads of 10^6 symbols (10^4 with --smoke): a skewed 256-symbol distribution
(p_i proportional to 1/(i+1)^1.3, a Zipf law) coded with its probability vector, and quantized
Laplace weights (scale 3 bins) coded with mdl's DiscretizedLaplace prior. For each: the
information content -sum log2 p, the file's real bits (8 x bytes, container header included),
overhead = real / ideal - 1, encode/decode throughput (best of 3), and the sizes zlib -9,
bz2 -9 and lzma -9e reach on the raw symbol bytes, as ratios to ours. Last line: JSON.
"""

from __future__ import annotations

import argparse
import bz2
import json
import lzma
import sys
import time
import zlib

import numpy as np

from mdl.codec import decode_symbols, encode_symbols, information_bits
from mdl.codes.priors import DiscretizedLaplace


def best_time(fn, repeats: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_case(name: str, symbols: np.ndarray, model, raw: bytes) -> dict:
    ideal = information_bits(symbols, model)
    encode_s, data = best_time(lambda: encode_symbols(symbols, model))
    decode_s, decoded = best_time(lambda: decode_symbols(data, model))
    if not np.array_equal(decoded, symbols):
        raise SystemExit(f"{name}: round trip failed")
    real = 8 * len(data)
    lzma_s, lzma_bytes = best_time(lambda: lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME), 1)
    sizes = {
        "zlib": len(zlib.compress(raw, 9)),
        "bz2": len(bz2.compress(raw, 9)),
        "lzma": len(lzma_bytes),
    }
    return {
        "case": name,
        "symbols": int(symbols.size),
        "ideal_bits": ideal,
        "real_bits": real,
        "overhead_fraction": real / ideal - 1,
        "encode_symbols_per_s": symbols.size / encode_s,
        "decode_symbols_per_s": symbols.size / decode_s,
        "encode_time_over_lzma": encode_s / lzma_s,
        **{f"{k}_over_ours": 8 * v / real for k, v in sizes.items()},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="10^4 symbols instead of 10^6")
    args = parser.parse_args(argv)
    n = 10_000 if args.smoke else 1_000_000
    rng = np.random.default_rng(0)

    zipf = 1.0 / np.arange(1, 257) ** 1.3
    zipf /= zipf.sum()
    skewed = rng.choice(256, size=n, p=zipf)
    skewed_case = run_case("skewed-256", skewed, zipf, skewed.astype(np.uint8).tobytes())

    prior = DiscretizedLaplace(np.float32(0.0), np.float32(3.0))
    weights = np.round(rng.laplace(0.0, 3.0, size=n)).astype(np.int64)
    laplace_case = run_case("laplace-weights", weights, prior, weights.astype(np.int16).tobytes())

    cases = [skewed_case, laplace_case]
    columns = ["ideal bits", "real bits", "overhead", "enc sym/s", "dec sym/s"]
    columns += ["zlib/ours", "bz2/ours", "lzma/ours"]
    header = f"{'case':16} " + " ".join(f"{c:>12}" for c in columns)
    print(f"codec benchmark, {n} symbols per case, best of 3 timings")
    print(header)
    for c in cases:
        print(
            f"{c['case']:16} {c['ideal_bits']:12.0f} {c['real_bits']:12d} "
            f"{c['overhead_fraction']:12.2e} {c['encode_symbols_per_s']:12.3g} "
            f"{c['decode_symbols_per_s']:12.3g} {c['zlib_over_ours']:12.3f} "
            f"{c['bz2_over_ours']:12.3f} {c['lzma_over_ours']:12.3f}"
        )
    summary = {
        "symbols": n,
        "overhead_fraction": skewed_case["overhead_fraction"],
        "laplace_overhead_fraction": laplace_case["overhead_fraction"],
        "encode_symbols_per_s": skewed_case["encode_symbols_per_s"],
        "decode_symbols_per_s": skewed_case["decode_symbols_per_s"],
        "laplace_encode_symbols_per_s": laplace_case["encode_symbols_per_s"],
        "laplace_decode_symbols_per_s": laplace_case["decode_symbols_per_s"],
        "encode_time_over_lzma": skewed_case["encode_time_over_lzma"],
        "zlib_over_ours": skewed_case["zlib_over_ours"],
        "bz2_over_ours": skewed_case["bz2_over_ours"],
        "lzma_over_ours": skewed_case["lzma_over_ours"],
        "laplace_lzma_over_ours": laplace_case["lzma_over_ours"],
    }
    print(json.dumps(summary))
    sys.stdout.flush()
    return summary


if __name__ == "__main__":
    main()
