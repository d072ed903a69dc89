"""Our tightest MNIST test-error bound from code length, with a code fixed in advance.

    python -m experiments.mnist_bound [--smoke] [--shuffle-labels] [--delta D] [--out DIR]

Trains small convnets on MNIST to minimize their two-part code length (data bits + beta x
model bits, every tensor quantized with a learned step and a learned spike-and-slab prior,
rANS-coded), writes each model to a compact file, and bounds the true error of the chosen one
with the Occam bound (kl form), which holds with probability 1 - delta over the training
sample for every hypothesis at once, given a prefix code fixed before seeing the data.

**The code, fixed in advance** (the "prior"). A hypothesis is sent as

1. its configuration's index among ``CONFIGURATIONS``, uniformly: ``log2 len(CONFIGURATIONS)``
   bits. The list is every configuration ever trained on the bound's 60,000 training images
   (the earlier runs listed in ``EARLIER``, this run's ``GRID``, and the ``SMOKE``
   configuration the test suite runs), so every configuration tried on this data is charged;
2. the architecture, in mdl's structure code (`mdl.estimators.structure_bits`: the family,
   then every integer with Rissanen's log* code);
3. the file's byte count, with Rissanen's log* code (the file is then self-delimiting);
4. the compact model file itself (``8 x bytes``).

The list and the codes are written here, before the run they bound; nothing in them depends
on the training sample.

**Selection.** ``GRID``'s configurations are compared by their bound, which is computed from
the training sample alone (the decoded file's training error and its code length): the choice
is a code length on the training set, and the union over ``CONFIGURATIONS`` already pays for
it. Training evaluates on the training set only (`mdl.data.without_test`); the test set is read
once, after the choice, for the chosen model.

``--shuffle-labels`` permutes the training labels (the same pipeline on data with nothing to
learn): the bound must then be vacuous. Writes ``summary.json`` with ``error_bound``,
``code_bits`` (and its ``code_parts``), ``train_error``, ``test_error``, ``candidates`` (every
grid point's bound) and more to DIR. A rerun resumes: grid points already in DIR's summary are
not trained again.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import replace

import jax
import numpy as np
from flax import nnx

import mdl
from experiments.harness import experiment_parser, write_summary
from mdl.bounds import occam_bound, occam_bound_hoeffding
from mdl.compress import quantizer, save_compressed
from mdl.compress.files import load_compressed
from mdl.cosine_adam import cosine_adam
from mdl.data import load, without_test
from mdl.estimators import structure_bits
from mdl.inference import evaluate_model
from mdl.models import ConvNet
from mdl.train import fit

# The configurations trained on the 60,000 training images before 2026-12-06 (each one run,
# seed 0; their results are the tables of experiments/mnist_bound.md). MLP rows: input
# (after average pooling), hidden units, beta, epochs, learning rate schedule.
EARLIER = (
    "mlp 28x28 h100 beta1 e40 constant",
    "mlp 28x28 h32 beta1 e60 constant",
    "mlp 28x28 h32 beta3 e60 constant",
    "mlp 28x28 h100 beta3 e60 constant",
    "mlp 28x28 h32 beta3 e60 cosine",
    "mlp 28x28 h32 beta10 e120 cosine",
    "mlp 28x28 h16 beta3 e120 cosine",
    "mlp 14x14 h16 beta1 e40 cosine0.003",
    "mlp 7x7 h32 beta1 e40 cosine0.003",
    "mlp 14x14 h16 beta1 e120 cosine0.003",
    "mlp 14x14 h12 beta1 e80 cosine0.003",
    "mlp 14x14 h24 beta1 e80 cosine0.003",
    "mlp 14x14 h16 beta3 e120 cosine0.003",
    "mlp 7x7 h16 beta3 e120 cosine0.003",
    "mlp 14x14 h16 beta3 e120 cosine",
    "mlp 14x14 h16 beta5 e200 cosine",
    "mlp 7x7 h16 beta3 e200 cosine",
    "mlp 14x14 h12 beta3 e200 cosine",
    "mlp 7x7 h24 beta3 e120 cosine",
    "mlp 14x14 h16 beta8 e300 cosine",
    "mlp 7x7 h32 beta5 e200 cosine",
    "mlp 14x14 h20 beta5 e300 cosine",
    "mlp 7x7 h24 beta5 e300 cosine",
    "convnet 8,16 pool2 dense beta3 e2 cosine0.003",
    "convnet 8,16 pool2 dense beta5 e20 cosine0.003",
    "convnet 8,16 pool2 global-mean beta5 e20 cosine0.003",
    "convnet 8,16,32 pool1 global-mean beta5 e20 cosine0.003 (stopped)",
    "convnet 8,16 pool2 dense beta5 e60 cosine0.003",
    "convnet 8,16 pool2 dense beta10 e60 cosine0.003",
)
# This run's grid, written down on 2026-12-06 before it ran: the convnet of the earlier runs,
# at three betas around the earlier choice (5).
GRID = tuple(
    {"channels": (8, 16), "pool": 2, "beta": beta, "epochs": 60, "learning_rate": 3e-3}
    for beta in (3.0, 5.0, 10.0)
)
# The test suite's smoke run (it trains on all 60,000 images: the bound needs them).
SMOKE = {"channels": (4, 8), "pool": 2, "beta": 3.0, "epochs": 1, "learning_rate": 3e-3}


def configuration_name(config: dict) -> str:
    """A configuration's entry in ``CONFIGURATIONS``."""
    channels = ",".join(str(c) for c in config["channels"])
    return (
        f"convnet {channels} pool{config['pool']} dense beta{config['beta']:g} "
        f"e{config['epochs']} cosine{config['learning_rate']:g}"
    )


CONFIGURATIONS = EARLIER + tuple(configuration_name(c) for c in (*GRID, SMOKE))
# Runs of one configuration are charged once: the index names the configuration.
CONFIGURATIONS = tuple(dict.fromkeys(CONFIGURATIONS))


def candidates_table(summary: dict) -> str:
    """experiments/mnist_bound.md: every grid point's code and bound (training sample only),
    the chosen one in bold."""
    from experiments.pages import markdown_table

    rows = []
    for c in summary["candidates"]:
        bold = "**" if c["configuration"] == configuration_name_of(summary) else ""
        rows.append(
            [
                f"{bold}{c['beta']:g}{bold}",
                f"{c['file_bytes']:,}",
                f"{c['code_bits']:,.1f}",
                f"{100 * c['train_error']:.2f}%",
                f"{bold}{100 * c['error_bound']:.2f}%{bold}",
                f"{c['seconds']:.0f}",
            ]
        )
    header = ["beta", "file (bytes)", "code length L (bits)", "train error", "bound", "seconds"]
    return markdown_table(header, rows)


def configuration_name_of(summary: dict) -> str:
    """The chosen configuration's name, from a summary's fields."""
    return configuration_name(
        {k: summary[k] for k in ("channels", "pool", "beta", "epochs", "learning_rate")}
    )


def train_candidate(config: dict, train, out, seed: int, progress: bool) -> dict:
    """Train one configuration on all training images (no test split in ``train``), write
    its compact file and measure the decoded file's training figures and code length."""
    m = len(train.y_train)
    model = ConvNet(
        list(config["channels"]),
        input_pool=config["pool"],
        image_shape=(28, 28),
        rngs=nnx.Rngs(seed),
    )
    # Every tensor is quantized: a float32 bias costs 32 bits a scalar, which a bound feels.
    compressor = quantizer(lambda path, leaf: True, prior="spike_laplace")
    started = time.perf_counter()
    result = fit(
        model,
        train,
        compressor=compressor,
        optimizer=cosine_adam(config["learning_rate"], epochs=config["epochs"], examples=m),
        epochs=config["epochs"],
        batch_size=128,
        beta=config["beta"],
        warmup_fraction=0.5,
        key=jax.random.key(seed),
        eval_every=max(1, config["epochs"] // 10),
        keep_best=True,  # the smallest training two-part total: a training-set choice
        progress=progress,
    )
    name = configuration_name(config)
    model_path = out / f"model_beta{config['beta']:g}_e{config['epochs']}.mdl"
    # A compact file: the decoder knows the architecture from the structure code (paid for
    # below), so names, shapes and the architecture text would be redundant bits.
    file_bytes = save_compressed(model_path, result.model, compressor, result.cstate, compact=True)
    # Evaluate the model *as decoded from the file*: the hypothesis the bound is about.
    decoded = load_compressed(model_path, model)
    train_bits, train_error = evaluate_model(decoded, train.x_train, train.y_train)
    code_parts = {
        "configuration_index": math.log2(len(CONFIGURATIONS)),
        "structure": structure_bits(model),
        "file_length": float(mdl.log_star_bits(file_bytes)),
        "file": 8.0 * file_bytes,
    }
    code_bits = sum(code_parts.values())
    return {
        "configuration": name,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        "file_bytes": file_bytes,
        "model_file": model_path.name,
        "code_parts": code_parts,
        "code_bits": code_bits,
        "train_error": train_error,
        "train_data_bits": train_bits,
        "seconds": time.perf_counter() - started,
        "history": [{k: v for k, v in row.items() if "test" not in k} for row in result.history],
    }


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "mnist_bound", smoke="the SMOKE configuration (for tests)", data_root=True
    )
    parser.add_argument("--shuffle-labels", action="store_true", help="random labels (control)")
    parser.add_argument("--delta", type=float, default=0.05)
    args = parser.parse_args(argv)
    if not 0 < args.delta < 1:
        parser.error(f"--delta must be in (0, 1); got {args.delta}")
    seed = 0
    data = load("mnist", root=args.data_root, flatten=True)
    if args.shuffle_labels:
        rng = np.random.default_rng(seed)
        data = replace(
            data, y_train=rng.permutation(data.y_train), y_test=rng.permutation(data.y_test)
        )
    m = len(data.y_train)
    configs = (SMOKE,) if args.smoke else GRID
    args.out.mkdir(parents=True, exist_ok=True)
    summary_path = args.out / "summary.json"
    previous = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    done = {c["configuration"]: c for c in previous.get("candidates", [])}
    if previous.get("shuffled_labels", args.shuffle_labels) != args.shuffle_labels:
        done = {}  # another data set's runs
    # The search is given the training split only; ``data`` keeps the test set for one read.
    train = without_test(data)
    candidates = []
    summary = {"m": m, "delta": args.delta, "shuffled_labels": args.shuffle_labels}
    for config in configs:
        candidate = done.get(configuration_name(config))
        if candidate is None or not (args.out / candidate["model_file"]).exists():
            candidate = train_candidate(config, train, args.out, seed, not args.smoke)
        candidate["error_bound"] = float(
            occam_bound(candidate["train_error"], candidate["code_bits"], m, args.delta)
        )
        candidates.append(candidate)
        summary["candidates"] = candidates
        write_summary(args.out, summary, start)  # progress: a rerun resumes from here
    chosen = min(candidates, key=lambda c: c["error_bound"])
    model_path = args.out / "model.mdl"
    shutil.copyfile(args.out / chosen["model_file"], model_path)
    # The test set, read once, after the choice: the chosen model only.
    template = ConvNet(
        list(chosen["channels"]),
        input_pool=chosen["pool"],
        image_shape=(28, 28),
        rngs=nnx.Rngs(seed),
    )
    decoded = load_compressed(model_path, template)
    test_bits, test_error = evaluate_model(decoded, data.x_test, data.y_test)
    summary.update(
        {
            "error_bound": chosen["error_bound"],
            "error_bound_hoeffding": float(
                occam_bound_hoeffding(chosen["train_error"], chosen["code_bits"], m, args.delta)
            ),
            "code_bits": chosen["code_bits"],
            "code_parts": chosen["code_parts"],
            "configurations_charged": len(CONFIGURATIONS),
            "file_bytes": chosen["file_bytes"],
            "train_error": chosen["train_error"],
            "test_error": test_error,
            "train_data_bits": chosen["train_data_bits"],
            "test_data_bits": test_bits,
            "arch": "convnet",
            "channels": list(chosen["channels"]),
            "pool": chosen["pool"],
            "beta": chosen["beta"],
            "epochs": chosen["epochs"],
            "learning_rate": chosen["learning_rate"],
            "selection": "the smallest bound among the grid (training sample only); test "
            "read once, after the choice",
            "seconds": sum(c["seconds"] for c in candidates),
            "model_file": model_path.name,
        }
    )
    write_summary(args.out, summary, start)
    print(
        json.dumps(
            {k: v for k, v in summary.items() if k not in ("candidates", "provenance")}, indent=1
        )
    )
    return summary


if __name__ == "__main__":
    main()
