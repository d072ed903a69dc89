"""An MNIST error bound with a pretrained reference: the Occam bound of reference + delta.

    python -m experiments.transfer_bound [--smoke] [--delta D] [--out DIR] [--data-root DIR]

The Occam bound holds for any prefix code fixed before the bound's training sample is seen;
a code may therefore depend on *other* data. Here the code's "prior" is a reference network
trained on one part of MNIST's training set, and the bound is over the other part:

**Independence of the reference's data.** MNIST's 60,000 training images are split by a
permutation fixed in advance (``numpy.random.default_rng(SPLIT_SEED).permutation(60000)``):
the first ``REFERENCE_SIZE`` indices train the reference, the remaining ``m = 60,000 -
REFERENCE_SIZE`` are the bound's sample. The examples are i.i.d. draws, so the reference
(a function of its own indices' images and labels, and of settings written here) is
independent of the sample, and any code built from it is fixed before the sample is seen
(a data-dependent prior: Ambroladze, Parrado-Hernandez and Shawe-Taylor 2007; Dziugaite et
al. 2021). `split` checks in code that the index sets are disjoint and cover the training
set, and `main` that the reference trains on exactly its own rows. The test set is neither.
This is not transfer from another data set (Lotfi et al.'s 9.0% used a prior from other
data); it is the same construction on a disjoint part of the same training set.

**The code, fixed in advance.** A hypothesis is the reference plus a delta, sent as its
configuration's index among ``CONFIGURATIONS`` (uniform, ``log2 len(CONFIGURATIONS)`` bits:
every configuration trained on the sample, the smoke run's included), then, for a delta, the
log* code of its file's byte count and the delta file itself (`mdl.compress.encode_delta`).
The decoder has the reference (its file, named in the delta by SHA-256), so the architecture
costs nothing more: it is the reference's. The configurations: the reference unchanged (no
file at all), a new head (the rest frozen) and a dense quantized delta, each trained on the
sample to its two-part code given the reference (``beta = 1``).

**Selection.** The configuration with the smallest bound, computed from the sample alone.
The test set is read once, after the choice, for the chosen hypothesis.

``summary.json``: ``error_bound``, ``code_bits`` (``code_parts``), ``train_error``,
``test_error``, ``reference_data`` (what the reference was trained on), ``m``,
``candidates`` (every configuration's bound), ``reference_sample_overlap`` (0, checked).

References: S. Lotfi et al., "PAC-Bayes compression bounds so tight that they can explain
generalization", NeurIPS 2022; J. Langford, "Tutorial on practical prediction theory for
classification", JMLR 2005 (the Occam bound).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace

import jax
import numpy as np
from flax import nnx

import mdl
from experiments.harness import experiment_parser, write_summary
from mdl.adapt import adapt
from mdl.bounds import occam_bound, occam_bound_hoeffding
from mdl.compress import decode_delta, float32_baseline, quantizer
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.cosine_adam import cosine_adam
from mdl.data import load, without_test
from mdl.inference import evaluate_model
from mdl.models import ConvNet
from mdl.train import fit

SPLIT_SEED = 0
REFERENCE_SIZE = 20_000
ARCH = {"channels": (16, 32), "input_pool": 1}
REFERENCE = {"epochs": 10, "learning_rate": 3e-3}  # float32, Adam, cosine decay
DELTA_SETTINGS = {"epochs": 5, "learning_rate": 1e-3, "beta": 1.0}
# Every configuration trained on the bound's sample, written down before the run: the three of
# the full run and the smoke run's (whose reference and delta see a few thousand images).
CONFIGURATIONS = ("reference", "head", "dense", "smoke: head, 1 epoch")
SMOKE_SIZES = (2_000, 2_000)  # reference images, sample images


def split(n: int, reference_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(the reference's indices, the bound's sample's indices): a permutation fixed in
    advance, cut in two. Raises if the parts overlap or miss an index (they cannot; the check
    is the independence argument written as code)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    reference, sample = np.sort(order[:reference_size]), np.sort(order[reference_size:])
    if np.intersect1d(reference, sample).size or reference.size + sample.size != n:
        raise AssertionError("the reference's and the sample's indices must partition the set")
    return reference, sample


def rows(data, index) -> object:
    """``data``'s training rows ``index`` as the training split, no test split."""
    return without_test(replace(data, x_train=data.x_train[index], y_train=data.y_train[index]))


def new_model() -> ConvNet:
    return ConvNet(list(ARCH["channels"]), input_pool=ARCH["input_pool"], rngs=nnx.Rngs(0))


def error_of(model, x, y) -> float:
    return evaluate_model(model, x, y)[1]


def candidates_table(summary: dict) -> str:
    """experiments/transfer_bound.md: every configuration's code and bound on the sample, the
    chosen one in bold."""
    from experiments.pages import markdown_table

    rows = []
    for c in summary["candidates"]:
        bold = "**" if c["configuration"] == summary["configuration"] else ""
        rows.append(
            [
                f"{bold}{c['configuration']}{bold}",
                f"{c['file_bytes']:,}",
                f"{c['code_bits']:,.1f}",
                f"{100 * c['train_error']:.2f}%",
                f"{bold}{100 * c['error_bound']:.2f}%{bold}",
                f"{c['seconds']:.0f}",
            ]
        )
    header = ["configuration", "delta file (bytes)", "code L (bits)", "train error", "bound", "s"]
    return markdown_table(header, rows)


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "transfer_bound", smoke="2,000 + 2,000 images, 1 epoch", data_root=True
    )
    parser.add_argument("--delta", type=float, default=0.05)
    args = parser.parse_args(argv)
    if not 0 < args.delta < 1:
        parser.error(f"--delta must be in (0, 1); got {args.delta}")
    data = load("mnist", root=args.data_root)
    reference_index, sample_index = split(len(data.y_train), REFERENCE_SIZE)
    if args.smoke:
        reference_index = reference_index[: SMOKE_SIZES[0]]
        sample_index = sample_index[: SMOKE_SIZES[1]]
    reference_data, sample = rows(data, reference_index), rows(data, sample_index)
    # The reference trains on exactly its own rows: none of the sample's.
    overlap = int(np.intersect1d(reference_index, sample_index).size)
    assert overlap == 0 and np.array_equal(reference_data.x_train, data.x_train[reference_index])
    m = len(sample.y_train)
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    epochs = 1 if args.smoke else REFERENCE["epochs"]
    trained = fit(
        new_model(),
        reference_data,
        optimizer=cosine_adam(
            REFERENCE["learning_rate"], epochs=epochs, examples=len(reference_data.y_train)
        ),
        epochs=epochs,
        key=jax.random.key(0),
        progress=False,
    )
    plain = float32_baseline()
    ref_file = encode_compressed(trained.model, plain, plain.init(trained.params))
    (args.out / "reference.mdl").write_bytes(ref_file)
    reference_seconds = time.perf_counter() - started
    index_bits = math.log2(len(CONFIGURATIONS))

    candidates = []
    reference_model = decode_compressed(ref_file, new_model())
    candidates.append(
        {
            "configuration": "reference",
            "file_bytes": 0,
            "code_parts": {"configuration_index": index_bits},
            "train_error": error_of(reference_model, sample.x_train, sample.y_train),
            "seconds": 0.0,
        }
    )
    runs = {"head": "head", "dense": "all"}
    if args.smoke:
        runs = {"smoke: head, 1 epoch": "head"}
    everything = lambda path, w: True  # noqa: E731
    for name, trainable in runs.items():
        started = time.perf_counter()
        result = adapt(
            ref_file,
            new_model(),
            sample,
            quantizer(everything),
            trainable=trainable,
            beta=DELTA_SETTINGS["beta"],
            epochs=1 if args.smoke else DELTA_SETTINGS["epochs"],
            learning_rate=DELTA_SETTINGS["learning_rate"],
            key=jax.random.key(0),
        )
        file_name = f"delta_{name.split(':')[0]}.mdl"
        (args.out / file_name).write_bytes(result.delta_file)
        candidates.append(
            {
                "configuration": name,
                "file_bytes": len(result.delta_file),
                "delta_file": file_name,
                "code_parts": {
                    "configuration_index": index_bits,
                    "file_length": float(mdl.log_star_bits(len(result.delta_file))),
                    "file": 8.0 * len(result.delta_file),
                },
                "train_error": error_of(result.model, sample.x_train, sample.y_train),
                "seconds": time.perf_counter() - started,
            }
        )
    for c in candidates:
        c["code_bits"] = sum(c["code_parts"].values())
        c["error_bound"] = float(occam_bound(c["train_error"], c["code_bits"], m, args.delta))
    chosen = min(candidates, key=lambda c: c["error_bound"])
    # The test set, read once, after the choice: the chosen hypothesis only.
    model = reference_model
    if chosen["configuration"] != "reference":
        model = decode_delta((args.out / chosen["delta_file"]).read_bytes(), ref_file, new_model())
    summary = {
        "error_bound": chosen["error_bound"],
        "error_bound_hoeffding": float(
            occam_bound_hoeffding(chosen["train_error"], chosen["code_bits"], m, args.delta)
        ),
        "code_bits": chosen["code_bits"],
        "code_parts": chosen["code_parts"],
        "configuration": chosen["configuration"],
        "train_error": chosen["train_error"],
        "test_error": error_of(model, data.x_test, data.y_test),
        "m": m,
        "delta": args.delta,
        "reference_data": (
            f"{len(reference_index):,} MNIST training images (rows of a permutation with seed "
            f"{SPLIT_SEED}), disjoint from the bound's {m:,}"
        ),
        "reference_examples": len(reference_index),
        "reference_sample_overlap": overlap,
        "reference_file_bytes": len(ref_file),
        "reference_seconds": reference_seconds,
        "configurations_charged": len(CONFIGURATIONS),
        "arch": {"family": "convnet", "channels": list(ARCH["channels"]), "input_pool": 1},
        "settings": {"reference": REFERENCE, "delta": DELTA_SETTINGS},
        "candidates": candidates,
        "selection": "the smallest bound (training sample only); test read once, after it",
        "smoke": args.smoke,
    }
    write_summary(args.out, summary, start)
    print(json.dumps({k: v for k, v in summary.items() if k != "candidates"}, indent=1))
    return summary


if __name__ == "__main__":
    main()
