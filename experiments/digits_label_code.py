"""The demo: how many bits do the digits' test labels take once a model has seen the images?

    python -m experiments.digits_label_code [--smoke] [--out DIR]

Fits a multinomial logistic regression (optax, full batch) on scikit-learn's 8x8 digits,
then codes the test labels *given the model's predictions* with mdl's rANS codec, decodes them
back to check, and compares the real file with the uniform code (log2 10 bits per label) and
with zlib, bz2 and lzma, which see only the label bytes. Also prints the two-part total
(model at float32 + data given model) to show what the model itself costs, which the
compressor issues then shrink. Writes ``summary.json`` to DIR (default results/digits_label_code).
"""

from __future__ import annotations

import bz2
import lzma
import math
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

import mdl
from experiments.harness import experiment_parser, write_summary
from mdl.data import load


def fit_logistic_regression(x, y, num_classes: int, steps: int, l2: float, key):
    """Multinomial logistic regression by full-batch Adam on mean cross-entropy + l2."""
    params = {
        "w": 0.01 * jax.random.normal(key, (x.shape[1], num_classes)),
        "b": jnp.zeros(num_classes),
    }
    optimizer = optax.adam(0.05)

    def loss(p):
        bits = mdl.categorical_bits(x @ p["w"] + p["b"], y).mean()
        return bits + l2 * jnp.sum(p["w"] ** 2)

    @jax.jit
    def step(p, state):
        grads = jax.grad(loss)(p)
        updates, state = optimizer.update(grads, state, p)
        return optax.apply_updates(p, updates), state

    state = optimizer.init(params)
    for _ in range(steps):
        params, state = step(params, state)
    return params


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "digits_label_code", smoke="few optimization steps (for tests)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load("digits", seed=args.seed)
    x_train = jnp.asarray(data.x_train.reshape(len(data.x_train), -1))
    x_test = jnp.asarray(data.x_test.reshape(len(data.x_test), -1))
    params = fit_logistic_regression(
        x_train,
        jnp.asarray(data.y_train),
        data.num_classes,
        steps=30 if args.smoke else 500,
        l2=1e-3,
        key=jax.random.key(args.seed),
    )
    logits = np.asarray(x_test @ params["w"] + params["b"], dtype=np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    labels = data.y_test

    coded = mdl.encode_labels(probs, labels)
    if not np.array_equal(mdl.decode_labels(probs, coded), labels):
        raise SystemExit("round trip failed: decoded labels differ")
    n = len(labels)
    label_bytes = labels.astype(np.uint8).tobytes()
    estimate = float(np.sum(np.asarray(mdl.categorical_bits(logits, labels), dtype=np.float64)))
    model_bits = 32 * sum(int(np.size(p)) for p in jax.tree.leaves(params))
    summary = {
        "test_examples": n,
        "test_accuracy": float(np.mean(probs.argmax(axis=1) == labels)),
        "uniform_bits": n * math.log2(data.num_classes),
        "estimate_bits": estimate,
        "codec_file_bits": 8 * len(coded),
        "codec_payload_bits": 8 * len(mdl.codec.container.unpack(coded, "LABL")["RANS"]),
        "zlib_bits": 8 * len(zlib.compress(label_bytes, 9)),
        "bz2_bits": 8 * len(bz2.compress(label_bytes, 9)),
        "lzma_bits": 8 * len(lzma.compress(label_bytes, preset=9 | lzma.PRESET_EXTREME)),
        "model_float32_bits": model_bits,
        "two_part_float32_bits": model_bits + 8 * len(coded),
    }
    write_summary(args.out, summary, start)

    print(
        f"digits: {len(data.y_train)} train / {n} test images, logistic regression, "
        f"test accuracy {summary['test_accuracy']:.1%}"
    )
    print(f"\nbits to send the {n} test labels to someone who has the images:")
    rows = [
        ("uniform code (log2 10 per label)", summary["uniform_bits"]),
        ("zlib -9 on the label bytes", summary["zlib_bits"]),
        ("bz2 -9 on the label bytes", summary["bz2_bits"]),
        ("lzma -9e on the label bytes", summary["lzma_bits"]),
        ("mdl estimate, -sum log2 p(label | model)", estimate),
        ("mdl codec, real file (decoded back exactly)", summary["codec_file_bits"]),
        ("  of which the rANS-coded labels", summary["codec_payload_bits"]),
        (
            "  and the container (header, sizes, checksums)",
            summary["codec_file_bits"] - summary["codec_payload_bits"],
        ),
    ]
    for name, bits in rows:
        print(f"  {name:46s} {bits:10.0f} bits  {bits / n:6.3f} per label")
    print(
        f"\nthe model itself at float32: {model_bits} bits; two-part total "
        f"{summary['two_part_float32_bits']} bits. Compressing the model is what mdl is for."
    )
    print(f"summary: {args.out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()
