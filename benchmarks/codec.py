"""Codec benchmark: real rANS bits against the information content, throughput, general
purpose compressors on the same symbols, and labels against constriction's own coder.

    python benchmarks/codec.py [--smoke]

Two workloads of 10^6 symbols (10^4 with --smoke): a skewed 256-symbol distribution
(p_i proportional to 1/(i+1)^1.3, a Zipf law) coded with its probability vector, and quantized
Laplace weights (scale 3 bins) coded with mdl's DiscretizedLaplace prior. For each: the
information content -sum log2 p, the file's real bits (8 x bytes, container header included),
overhead = real / ideal - 1, encode/decode throughput (best of 3), and the sizes zlib -9,
bz2 -9 and lzma -9e reach on the raw symbol bytes, as ratios to ours.

A third workload times ``encode_labels``/``decode_labels`` (checks, checksum and container
included) on 10^6 labels of 10 classes with per-example probabilities (float64, as mdl's
predictive probabilities are) against constriction's bare coder on the same labels and rows,
interleaved and best of 9 (3 with --smoke), so that a busy machine slows both alike; the
ratios are printed as labels_{en,de}code_time_over_constriction. Last line: JSON.
"""

from __future__ import annotations

import argparse
import bz2
import json
import lzma
import sys
import time
import zlib

import constriction
import numpy as np

from mdl.codec import decode_labels, decode_symbols, encode_labels, encode_symbols, information_bits
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


def labels_case(n: int, classes: int, repeats: int, rng) -> dict:
    """mdl's label coder against constriction's on the same rows, timings interleaved."""
    logits = 2.0 * rng.normal(size=(n, classes))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = (probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).clip(0, classes - 1)
    family = constriction.stream.model.Categorical(perfect=False)

    def constriction_encode():
        coder = constriction.stream.stack.AnsCoder()
        coder.encode_reverse(labels.astype(np.int32), family, probs)
        return coder.get_compressed()

    words = constriction_encode()
    data = encode_labels(probs, labels)
    runs = {
        "constriction_encode": constriction_encode,
        "constriction_decode": lambda: constriction.stream.stack.AnsCoder(words).decode(
            family, probs
        ),
        "mdl_encode": lambda: encode_labels(probs, labels),
        "mdl_decode": lambda: decode_labels(probs, data),
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    if not np.array_equal(decode_labels(probs, data), labels):
        raise SystemExit("labels: round trip failed")
    return {
        "labels": n,
        "labels_file_bits": 8 * len(data),
        "labels_constriction_bits": 32 * len(words),
        **{f"labels_{k}_s": v for k, v in best.items()},
        "labels_encode_time_over_constriction": best["mdl_encode"] / best["constriction_encode"],
        "labels_decode_time_over_constriction": best["mdl_decode"] / best["constriction_decode"],
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

    labels = labels_case(n, 10, 3 if args.smoke else 9, rng)

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
    print(
        f"labels, {n} of 10 classes, best of interleaved runs (s): "
        f"mdl encode {labels['labels_mdl_encode_s']:.4f} / constriction "
        f"{labels['labels_constriction_encode_s']:.4f} = "
        f"{labels['labels_encode_time_over_constriction']:.2f}x; "
        f"decode {labels['labels_mdl_decode_s']:.4f} / "
        f"{labels['labels_constriction_decode_s']:.4f} = "
        f"{labels['labels_decode_time_over_constriction']:.2f}x; "
        f"{labels['labels_file_bits']} bits in the file, "
        f"{labels['labels_constriction_bits']} in constriction's words"
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
        **labels,
    }
    print(json.dumps(summary))
    sys.stdout.flush()
    return summary


if __name__ == "__main__":
    main()
