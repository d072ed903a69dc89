"""A language model as a real text compressor, against gzip, bzip2, xz and zstd on the same bytes.

    python -m experiments.text_compression [--smoke] [--out DIR] [--text PATH]

Compresses ``kjv.txt`` (default ``$MDL_DATA/text/kjv.txt``; ``--smoke``: its first 20,000
bytes with tiny models) with mdl's two text codes (`mdl.textcode`): the online code (a GRU
that learns as it codes, no weights sent) and the two-part code (a GRU trained first, quantized,
sent, then the text coded with it). Each archive is decoded back and compared with the input
byte for byte; its size, headers included, is the reported bits per character. In the same
run: gzip -9, bzip2 -9, xz -9e (Python's ``gzip``, ``bz2``, ``lzma``) and zstd -19 (the
``zstandard`` package) on the same bytes; encode and decode throughput; the model's share of
the two-part archive; the peak resident memory of this process; and a figure of cumulative
bits per character along the text for every method (``cumulative_bpc.png``; the standard
compressors' curves from compressing prefixes at eight points).

Also the pretrained model as a prior (``transfer``): a model trained on the Old Testament only
codes the New Testament, fixed and fine-tuned online (`run_transfer`), and the Occam bound on
that model's expected bits per character (`mdl.textcode.evaluate.text_occam_bound`) beside its
bits per character on the held-out New Testament.

The settings were fixed before the full run: the online code's by its code length on prefixes
of the same file (fifteen settings tried on its first 200,000 and first 1,000,000 characters;
a selection among fifteen costs log2 15 = 3.9 bits, reported in ``settings_selection_bits``),
the two-part code's from the prototype's notes (``../shared/notes/prototype-text-gru.md``),
untuned. Writes ``summary.json``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import os
import resource
import time
from pathlib import Path

import numpy as np

from experiments.harness import experiment_parser, write_summary
from mdl.codec import container
from mdl.textcode import TextCodeSettings, compress_text, decompress_text, train_text_model
from mdl.textcode.evaluate import text_bits, text_occam_bound

ONLINE = TextCodeSettings(method="online")
TWO_PART = TextCodeSettings(method="two-part", streams=64, epochs=4)
SMOKE = {"hidden": 32, "embed_dim": 16, "epochs": 1, "train_window": 32}
# Online settings compared by code length before the full run: nine on the first 200,000
# characters, then six (learning-rate decay, streams) on the first million.
SELECTION_CONFIGS = 15
CURVE_POINTS = 256  # points kept of each cumulative curve in summary.json


def standard_compressors() -> dict:
    """name -> bytes -> compressed bytes, at their strongest settings."""
    import zstandard

    return {
        "gzip": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
        "bzip2": lambda data: bz2.compress(data, 9),
        "xz": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
        "zstd": lambda data: zstandard.ZstdCompressor(level=19).compress(data),
    }


def _thinned(curve: list) -> list:
    """At most ``CURVE_POINTS`` evenly spaced points of a curve, its last point included."""
    if len(curve) <= CURVE_POINTS:
        return curve
    keep = np.unique(np.linspace(0, len(curve) - 1, CURVE_POINTS).round().astype(int))
    return [curve[i] for i in keep]


def _bpc(size_bytes: int, chars: int) -> float:
    return 8 * size_bytes / chars


def run_standard(data: bytes, points: int = 8) -> dict:
    """Bits per character of each standard compressor on ``data`` and on prefixes of it."""
    results = {}
    for name, compress in standard_compressors().items():
        start = time.perf_counter()
        size = len(compress(data))
        seconds = time.perf_counter() - start
        ends = [round(len(data) * (i + 1) / points) for i in range(points - 1)]
        curve = [(end, 8 * len(compress(data[:end]))) for end in ends] + [(len(data), 8 * size)]
        results[name] = {
            "bpc": _bpc(size, len(data)),
            "bytes": size,
            "encode_chars_per_s": len(data) / seconds,
            "curve": curve,
        }
    return results


def run_text_code(data: bytes, settings: TextCodeSettings, out: Path, name: str) -> dict:
    """Compress, decode, compare; the archive is written to ``out/NAME.mdlt``."""
    curve = []
    start = time.perf_counter()
    archive = compress_text(
        data, settings, progress=lambda done, bits: curve.append((done, bits)), log=print
    )
    encode_seconds = time.perf_counter() - start
    (out / f"{name}.mdlt").write_bytes(archive)
    start = time.perf_counter()
    decoded = decompress_text(archive)
    decode_seconds = time.perf_counter() - start
    if decoded != data:
        raise SystemExit(f"{name}: the archive did not decode to the input")
    sections = container.unpack(archive, "TEXT")
    result = {
        "bpc": _bpc(len(archive), len(data)),
        "bytes": len(archive),
        "decoded_exactly": True,
        "encode_chars_per_s": len(data) / encode_seconds,
        "decode_chars_per_s": len(data) / decode_seconds,
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        "data_bits": 8 * len(sections["DATA"]),
        "header_bits": 8 * (len(archive) - len(sections["DATA"]) - len(sections.get("MODL", b""))),
        "settings": settings.to_dict(),
        # The ideal code length of the text (sum of -log2 p) at the end of each window.
        "curve": _thinned([(int(done), float(bits)) for done, bits in curve]),
    }
    if "MODL" in sections:
        result["model_bits"] = 8 * len(sections["MODL"])
        result["model_share"] = len(sections["MODL"]) / len(archive)
    print(
        f"{name}: {result['bpc']:.4f} bits/char, encode {result['encode_chars_per_s']:,.0f} "
        f"chars/s, decode {result['decode_chars_per_s']:,.0f} chars/s",
        flush=True,
    )
    return result


def run_transfer(data: bytes, online: TextCodeSettings, two_part: TextCodeSettings) -> dict:
    """The pretrained model as a prior: the two-part model trained on the Old Testament only
    (the text before its first "Matthew 1" line), then the New Testament coded with it fixed
    (two-part: the model's bits counted once, in the archive) and fine-tuned online (the online
    code starting from its weights; the model's bits in the archive too), against the online
    code of the New Testament from scratch. Every archive is decoded back. The model's
    alphabet is the whole text's, so it can code the New Testament's every byte."""
    marker = data.find(b"\nMatthew 1\n")
    # A text without that line (the smoke run's first 20,000 bytes) splits at three quarters.
    cut = marker + 1 if marker >= 0 else 3 * len(data) // 4
    old, new = data[:cut], data[cut:]
    start = time.perf_counter()
    model = train_text_model(old, two_part, alphabet=data, log=print)
    train_seconds = time.perf_counter() - start
    results = {"old_chars": len(old), "new_chars": len(new), "train_seconds": train_seconds}
    results["split"] = "Matthew 1" if marker >= 0 else "three quarters"
    results["model_bits"] = 8 * len(model.model_file)
    # The Occam bound on the model's expected bits per character, from its Old Testament
    # training loss (characters treated as i.i.d. draws; smoothed predictions bound the loss),
    # beside the same smoothed model's bits per character on the held-out New Testament. The
    # model is described by its file and its alphabet (256 bits); the settings were fixed in
    # the code before the run, so they cost nothing here.
    bound = text_occam_bound(model, old, code_bits=results["model_bits"] + 256, smoothing=0.01)
    bound["held_out_bpc"] = text_bits(model, new, smoothing=0.01) / len(new)
    results["bound"] = bound
    print(
        f"Occam bound (delta 0.05): {bound['bound_bpc']:.4f} bits/char; train "
        f"{bound['train_bpc']:.4f}, held-out New Testament {bound['held_out_bpc']:.4f}",
        flush=True,
    )
    for name, settings, given in (
        ("fixed", two_part, model),
        ("fine_tuned_online", online, model),
        ("online_from_scratch", online, None),
    ):
        start = time.perf_counter()
        archive = compress_text(new, settings, model=given)
        seconds = time.perf_counter() - start
        if decompress_text(archive) != new:
            raise SystemExit(f"transfer {name}: the archive did not decode to the input")
        results[name] = {"bpc": 8 * len(archive) / len(new), "bytes": len(archive)}
        results[name]["encode_seconds"] = seconds
        print(f"New Testament, {name}: {results[name]['bpc']:.4f} bits/char", flush=True)
    return results


def plot_curves(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window; set here, not at import
    import matplotlib.pyplot as plt

    labels = {
        "online": "online (sum of -log2 p so far)",
        "two_part": "two-part, text given model (sum of -log2 p; + model {:.2f} bits/char)",
    }
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, result in results.items():
        curve = np.asarray(result["curve"], float)
        if len(curve):
            label = labels.get(name, f"{name} (archive of each prefix)")
            if name == "two_part":
                label = label.format(result["model_bits"] / curve[-1, 0])
            ax.plot(curve[:, 0], curve[:, 1] / np.maximum(curve[:, 0], 1), label=label)
    ax.set_xlabel("characters coded")
    ax.set_ylabel("cumulative bits per character")
    ax.set_ylim(1.0, 4.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "text_compression", smoke="the first 20,000 bytes, tiny models (for tests)"
    )
    parser.add_argument("--text", type=Path, help="text file (default $MDL_DATA/text/kjv.txt)")
    parser.add_argument(
        "--methods",
        default="online,two-part,transfer",
        help="what to run (comma-separated): online, two-part, transfer (New Testament given "
        "a model of the Old)",
    )
    args = parser.parse_args(argv)
    path = args.text or Path(os.environ.get("MDL_DATA", "")) / "text" / "kjv.txt"
    if not path.is_file():
        parser.error(f"text file {path} not found (pass --text or set MDL_DATA)")
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - {"online", "two-part", "transfer"}
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; known: online, two-part, transfer")
    data = path.read_bytes()
    online, two_part = ONLINE, TWO_PART
    if args.smoke:
        data = data[:20_000]
        online = TextCodeSettings(**{**online.to_dict(), **SMOKE})
        two_part = TextCodeSettings(**{**two_part.to_dict(), **SMOKE})
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{path}: {len(data):,} bytes", flush=True)
    results = run_standard(data)
    for name in ("gzip", "bzip2", "xz", "zstd"):
        print(f"{name}: {results[name]['bpc']:.4f} bits/char", flush=True)
    chosen = {"online": online, "two-part": two_part}
    for method in methods:
        if method != "transfer":
            results[method.replace("-", "_")] = run_text_code(
                data, chosen[method], args.out, method
            )
    transfer = run_transfer(data, online, two_part) if "transfer" in methods else None
    plot_curves(results, args.out / "cumulative_bpc.png")
    summary = {
        "text": str(path.name),
        "chars": len(data),
        "smoke": args.smoke,
        "bpc": {name: r["bpc"] for name, r in results.items()},
        "encode_chars_per_s": {name: r["encode_chars_per_s"] for name, r in results.items()},
        "decode_chars_per_s": {
            name: r["decode_chars_per_s"]
            for name, r in results.items()
            if "decode_chars_per_s" in r
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model_bits": results.get("two_part", {}).get("model_bits"),
        "model_share": results.get("two_part", {}).get("model_share"),
        "nt_given_ot_bpc": (
            None
            if transfer is None
            else {
                k: transfer[k]["bpc"] for k in ("fixed", "fine_tuned_online", "online_from_scratch")
            }
        ),
        "transfer": transfer,
        "settings_selection_bits": math.log2(SELECTION_CONFIGS),
        "methods": results,
    }
    write_summary(args.out, summary, start)
    return summary


if __name__ == "__main__":
    main()
