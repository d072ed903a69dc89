"""Text-code throughput: mdl's online and two-part codes against lzma, in the same run.

    python benchmarks/text_codec.py [--smoke] [--chars N] [--text PATH]

Codes the first N characters (200,000; 20,000 with --smoke, tiny models) of ``kjv.txt``
(``$MDL_DATA/text/kjv.txt``, else a seeded synthetic text of English-like words) with each
method's default settings (`mdl.textcode.TextCodeSettings`, two-part with 64 streams as the
experiment runs it) and with ``lzma`` (preset 9 | extreme), each once after a warm-up archive
of 2,000 characters (so compilation is not timed). Public API only. Last line: JSON with, per
method, ``encode_chars_per_s``, ``decode_chars_per_s``, ``decode_over_encode`` (decode time /
encode time; the two-part encode time includes its training, so its ratio is far below one)
and ``encode_time_over_lzma``, plus ``lzma_encode_chars_per_s``.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
from pathlib import Path

import numpy as np

# A sibling in benchmarks/ (on the path when this file runs as a script).
from codec import best_time

from mdl.textcode import TextCodeSettings, compress_text, decompress_text

TINY = {"hidden": 32, "embed_dim": 16, "epochs": 1, "train_window": 32}


def synthetic_text(chars: int, seed: int = 0) -> bytes:
    """Words from a Zipf-distributed vocabulary of random lowercase strings, with spaces and
    line breaks: text-like statistics without a data file."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    vocabulary = [bytes(rng.choice(letters, size=rng.integers(1, 9)).tolist()) for _ in range(2000)]
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    words = rng.choice(len(vocabulary), size=chars // 3, p=weights / weights.sum())
    text = b" ".join(vocabulary[i] + (b"\n" if i % 17 == 0 else b"") for i in words)
    return text[:chars]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="20,000 characters, tiny models")
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--text", type=Path, help="text file (default $MDL_DATA/text/kjv.txt)")
    args = parser.parse_args(argv)
    chars = 20_000 if args.smoke else args.chars
    if chars < 2_000:
        parser.error(f"--chars must be at least 2000; got {chars}")
    path = args.text or Path(os.environ.get("MDL_DATA", "")) / "text" / "kjv.txt"
    data = path.read_bytes()[:chars] if path.is_file() else synthetic_text(chars)
    source = str(path.name) if path.is_file() else "synthetic"
    lzma_s, packed = best_time(lambda: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME), 1)
    figures = {
        "text": source,
        "chars": len(data),
        "lzma_encode_chars_per_s": len(data) / lzma_s,
        "lzma_bpc": 8 * len(packed) / len(data),
    }
    extra = TINY if args.smoke else {}
    methods = {
        "online": TextCodeSettings(method="online", **extra),
        "two_part": TextCodeSettings(method="two-part", streams=64, **extra),
    }
    for name, settings in methods.items():
        compress_text(data[:2_000], settings)  # compile the steps of this model
        encode_s, archive = best_time(lambda s=settings: compress_text(data, s), 1)
        decode_s, decoded = best_time(lambda a=archive: decompress_text(a), 1)
        if decoded != data:
            raise SystemExit(f"{name}: round trip failed")
        figures |= {
            f"{name}_bpc": 8 * len(archive) / len(data),
            f"{name}_encode_chars_per_s": len(data) / encode_s,
            f"{name}_decode_chars_per_s": len(data) / decode_s,
            f"{name}_decode_over_encode": decode_s / encode_s,
            f"{name}_encode_time_over_lzma": encode_s / lzma_s,
        }
        print(
            f"{name:>9}: {figures[f'{name}_bpc']:.3f} bpc, encode "
            f"{figures[f'{name}_encode_chars_per_s']:,.0f} chars/s, decode "
            f"{figures[f'{name}_decode_chars_per_s']:,.0f} chars/s "
            f"(decode/encode {figures[f'{name}_decode_over_encode']:.2f})"
        )
    print(
        f"{'lzma':>9}: {figures['lzma_bpc']:.3f} bpc, "
        f"{figures['lzma_encode_chars_per_s']:,.0f} chars/s"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
