"""Prequential code: decoding time against encoding time, on the same labels in the same run.

    python benchmarks/prequential.py [--smoke] [--n N] [--channels 8,16]

Encodes the first N MNIST training labels (6,000; ``--smoke``: 600 digits labels, no data file
needed) with `mdl.estimators.encode_prequential` and ``ConvNet(channels)`` chunk models on 2x2
pooled images (the code-length table's chunk models; default channels 8, 16), then decodes the
file with `decode_prequential` and checks that the labels come back exactly. The decoder
retrains every chunk model on the labels it has decoded, so its time is the encoder's training
again plus the decoding: the target is decode <= 1.5 x encode. Both ends run the same compiled
programs, so the encoder runs twice and its second run is the one compared (``encode_s``;
the first, with compilation, is ``encode_cold_s``), and the decoder runs after it. Public API
only. Last line: JSON with ``encode_s``, ``encode_cold_s``, ``decode_s``,
``decode_over_encode``, ``file_bits``, ``labels``, ``exact``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from mdl.data import load
from mdl.estimators import decode_prequential, encode_prequential
from mdl.models import ConvNet


def labelled_images(smoke: bool, n: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """``(x, y, image_shape)``: digits for ``--smoke``, else MNIST's first ``n`` training
    examples (``$MDL_DATA/mnist``)."""
    if smoke:
        data = load("digits")
        return data.x_train[:n], data.y_train[:n], (8, 8)
    root = Path(os.environ.get("MDL_DATA", "../shared/data")) / "mnist"
    data = load("mnist", root=root)
    return data.x_train[:n], data.y_train[:n], (28, 28)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="600 digits labels, tiny models")
    parser.add_argument("--n", type=int, default=None, help="labels (default 6,000; smoke 600)")
    parser.add_argument("--channels", default="8,16", help="the chunk ConvNet's channels")
    args = parser.parse_args(argv)
    n = args.n or (600 if args.smoke else 6000)
    channels = [int(c) for c in args.channels.split(",")]
    x, y, shape = labelled_images(args.smoke, n)
    pool = 1 if args.smoke else 2

    def chunk_model(rngs):
        return ConvNet(channels, image_shape=shape, input_pool=pool, rngs=rngs)

    options = {"max_epochs": 5, "min_steps": 50} if args.smoke else {}
    start = time.perf_counter()
    data = encode_prequential(chunk_model, x, y, num_classes=10, **options)
    encode_cold_s = time.perf_counter() - start
    start = time.perf_counter()
    again = encode_prequential(chunk_model, x, y, num_classes=10, **options)
    encode_s = time.perf_counter() - start
    if again != data:
        raise AssertionError("two encodings of the same labels differ")
    start = time.perf_counter()
    decoded = decode_prequential(data, chunk_model, x)
    decode_s = time.perf_counter() - start
    figures = {
        "labels": int(n),
        "channels": channels,
        "encode_s": encode_s,
        "encode_cold_s": encode_cold_s,
        "decode_s": decode_s,
        "decode_over_encode": decode_s / encode_s,
        "file_bits": 8 * len(data),
        "exact": bool(np.array_equal(decoded, y)),
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
