"""Which complexity measure ranks MNIST models by their generalization gap? (Jiang et al. 2020)

    python -m experiments.generalization_measures [--smoke] [--data-root DIR] [--out DIR]

Trains a fixed grid of small MLPs on MNIST subsets (the first n training images; 2x2
average pooling, then ``depth`` hidden layers of ``width`` ReLU units; every tensor quantized
with a learned step and spike-and-slab prior, trained on data bits + beta x model bits at a
fixed beta, Adam, a fixed number of epochs) and reports, for each complexity measure, the
Kendall rank correlation between the measure and the generalization gap (test error - train
error of the same model, the train error on the labels it was trained on), following Jiang,
Neyshabur, Mobahi, Krishnan and Bengio, "Fantastic Generalization Measures and Where to Find
Them" (ICLR 2020): a measure that ranks the models' gaps perfectly has tau = 1.

The grid (2 values on each of 6 axes, 64 models): width {16, 64}, depth {1, 2} hidden layers,
learning rate {1e-3, 3e-3}, batch size {32, 128}, label noise {0, 0.2} (Zhang et al. 2017:
each training label replaced by a uniform draw with that probability), training-set size
{1000, 4000}. Width, label noise and training-set size are axes of :func:`mdl.sweep.run`; each
(depth, learning rate, batch size) is one sweep of 8 points in its own subfolder of ``--out``
(rerunning resumes it). The grid, the epochs, beta and every estimator setting are fixed in
advance in this file; nothing is tuned on test data (the variational posterior's training length
was lengthened once, judged by training-set code lengths: see the .md), and the test set is
used only to compute the gap.

The measures, computed from the decoded model files where they concern a trained model:

* ``file_bits``: 8 x the size of the model's compact file (the compressed parameters);
* ``two_part_bits``: the sweep record's ``total_bits``: structure code + file + training
  labels coded with the decoded model;
* ``variational_bits``: :func:`mdl.estimators.variational`'s bits-back code of the same
  architecture on the same (noisy) training subset;
* ``prequential_bits``: :func:`mdl.estimators.prequential`'s online code (a real file) of
  the same labels with chunk models of the same architecture;
* ``l2_norm``: the Euclidean norm of all parameters of the decoded model;
* ``spectral_norm_product``: the product of the largest singular values of its weight matrices;
* ``parameter_count``, ``train_loss`` (training data bits per example, from the record);
* extras: the bit counts per training example (``*_per_example``: what an Occam bound
  divides by n) and ``occam_bound`` (the record's Occam kl bound on the test error).

The variational and prequential codes depend on the architecture and the training labels,
not on the learning rate or batch size of the swept models: they run once per (width, depth,
training-set size, label noise), with their own fixed settings (``settings()``; the posterior
trains for the same number of steps whatever n), and are shared by the models that differ only
in learning rate and batch size (kept in ``code_lengths.jsonl``, so a rerun reuses them).

Writes ``summary.json`` (``num_models``, ``kendall_tau``, ``granulated_kendall_tau`` (Jiang et
al.'s Psi: per axis, the mean tau over pairs of models that differ in that axis alone),
``kendall_tau_clean_gap``, the per-model rows under ``models``, the settings, ``command``,
``git_commit``, ``machine``, ``wall_seconds``, ``versions``) and ``models.jsonl`` (the rows).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx
from scipy.stats import kendalltau

from mdl.compress.files import load_compressed
from mdl.data import load
from mdl.data.dataset import Dataset
from mdl.estimators import prequential, variational
from mdl.inference import evaluate
from mdl.models import MLP
from mdl.models.catalog import reference_model
from mdl.params import split_params
from mdl.records import append_record, read_records, write_bytes_atomic, write_json_atomic
from mdl.sweep import SweepConfig, noisy_labels, run
from mdl.sweep.folder import git_commit, manifest

POOL = 2  # the MLPs average-pool the images 2x2 first (parameter-free; fewer weights)
BETA = 0.1
SEED = 0
COMPRESSOR = ({"name": "quantizer", "select": ".*", "prior": "spike_laplace"},)

# Measure name -> per-model row key. Positive tau: the measure grows with the gap.
MEASURES = {
    "file_bits": "file_bits",
    "two_part_bits": "two_part_bits",
    "variational_bits": "variational_bits",
    "prequential_bits": "prequential_bits",
    "l2_norm": "l2_norm",
    "spectral_norm_product": "spectral_norm_product",
    "parameter_count": "parameter_count",
    "train_loss": "train_loss",
    "file_bits_per_example": "file_bits_per_example",
    "two_part_bits_per_example": "two_part_bits_per_example",
    "variational_bits_per_example": "variational_bits_per_example",
    "prequential_bits_per_example": "prequential_bits_per_example",
    "occam_bound": "occam_bound",
}
AXES = ("width", "depth", "learning_rate", "batch_size", "label_noise", "train_size")


def settings(smoke: bool) -> dict:
    """The grid and every training and estimator setting, fixed before any run (the full run's
    below; the smoke run's are smaller and shorter, for tests)."""
    full = {
        "widths": [16, 64],
        "depths": [1, 2],
        "learning_rates": [1e-3, 3e-3],
        "batch_sizes": [32, 128],
        "label_noise": [0.0, 0.2],
        "train_sizes": [1000, 4000],
        "epochs": 20,
        "prequential": dict(
            first=64,
            batch_size=32,
            learning_rate=1e-3,
            max_epochs=10,
            min_steps=100,
            eval_every=50,
            patience=3,
        ),
        "variational": dict(steps=2000, batch_size=32, learning_rate=3e-3, samples=4),
    }
    if not smoke:
        return full
    faster = dict(learning_rate=3e-3, max_epochs=4, min_steps=50, eval_every=25, patience=2)
    return full | {
        "widths": [8, 16],
        "depths": [1],
        "batch_sizes": [32],
        "train_sizes": [256],
        "epochs": 2,
        "prequential": full["prequential"] | faster,
        "variational": dict(steps=8, batch_size=32, learning_rate=3e-3, samples=2),
    }


def model_spec(depth: int) -> dict:
    """The swept architecture (the width axis replaces every hidden layer's 16)."""
    return {"name": "MLP", "hidden": [16] * depth, "pool": POOL}


def sweep_name(depth: int, learning_rate: float, batch_size: int) -> str:
    return f"depth={depth}_lr={learning_rate!r}_batch={batch_size}"


def pooled(x: np.ndarray) -> np.ndarray:
    """The MLP's own first step (``POOL x POOL`` average pooling, flattened), applied to the
    inputs beforehand: the variational code's local reparameterization reads the flat inputs
    of ``model.sizes[0]`` and does not pool (see the .md), so both estimators get these."""
    n, height, width = x.shape[:3]
    blocks = x.reshape(n, height // POOL, POOL, width // POOL, POOL)
    return blocks.mean(axis=(2, 4)).reshape(n, -1).astype(np.float32)


def hidden_sizes(width: int, depth: int) -> list[int]:
    return [width] * depth


def kendall(measure, gap) -> float | None:
    """scipy's Kendall tau-b of a measure with the gap (None where undefined: a constant)."""
    tau = float(kendalltau(measure, gap).statistic)
    return None if math.isnan(tau) else tau


def granulated_kendall(rows: list[dict], key: str, gap: str = "gap") -> dict:
    """Jiang et al.'s granulated coefficient: for each axis, the mean over every group of
    models that differ in that axis alone of the group's Kendall tau (with two values per axis:
    sign(delta measure) x sign(delta gap), a tie counting 0); ``psi`` is the mean over axes."""
    out = {}
    for axis in AXES:
        groups: dict[tuple, list[dict]] = {}
        for row in rows:
            groups.setdefault(tuple(row[a] for a in AXES if a != axis), []).append(row)
        taus = []
        for group in groups.values():
            if len(group) < 2:
                continue
            pairs = list(itertools.combinations(group, 2))
            concordance = sum(np.sign(a[key] - b[key]) * np.sign(a[gap] - b[gap]) for a, b in pairs)
            taus.append(float(concordance) / len(pairs))
        out[axis] = float(np.mean(taus)) if taus else None
    defined = [v for v in out.values() if v is not None]
    out["psi"] = float(np.mean(defined)) if defined else None
    return out


def training_set(data: Dataset, width: int, depth: int, n: int, noise: float):
    """The estimators' inputs: the first ``n`` images pooled, their labels with the sweep's
    noise (same seed), and the layer sizes of the swept architecture."""
    x = pooled(data.x_train[:n])
    y = noisy_labels(data.y_train[:n], noise, SEED, data.num_classes)
    return x, y, [x.shape[1], *hidden_sizes(width, depth), data.num_classes]


def prequential_code(data: Dataset, width, depth, n, noise, options: dict) -> dict:
    """The online code (a real file) of the (noisy) labels, chunk models of this architecture."""
    x, y, sizes = training_set(data, width, depth, n, noise)
    report = prequential(
        lambda rngs: MLP(sizes, rngs=rngs), x, y, num_classes=data.num_classes, **options
    )
    return {
        "prequential_bits": report.total_bits,
        "prequential_ideal_bits": report.details.get("ideal_bits"),
    }


def variational_code(data: Dataset, width, depth, n, noise, options: dict) -> dict:
    """The bits-back code of the (noisy) labels, a posterior over this architecture trained
    for about ``options["steps"]`` minibatch steps, whatever n (whole epochs)."""
    x, y, sizes = training_set(data, width, depth, n, noise)
    options = dict(options)
    epochs = math.ceil(options.pop("steps") / (n // options["batch_size"]))
    # The posterior mean starts at the swept models' own initialization (seed SEED).
    report, _ = variational(MLP(sizes, rngs=nnx.Rngs(SEED)), x, y, epochs=epochs, **options)
    return {"variational_bits": report.total_bits, "variational_parts": report.parts}


ESTIMATORS = {"prequential": prequential_code, "variational": variational_code}


def decoded_measures(path: Path, template: nnx.Module, x, y, y_clean) -> dict:
    """Measures of the model decoded from its compact file."""
    model = load_compressed(path, template)
    graphdef, weights = split_params(model)
    leaves = [np.asarray(leaf, np.float64) for leaf in jax.tree.leaves(weights)]
    train_bits, train_error = evaluate(graphdef, weights, x, y)
    _, clean_error = evaluate(graphdef, weights, x, y_clean)
    return {
        "decoded_train_error": train_error,
        "decoded_train_data_bits": train_bits,
        "clean_train_error": clean_error,
        "l2_norm": float(math.sqrt(sum(float(np.sum(w**2)) for w in leaves))),
        "spectral_norm_product": float(
            np.prod([np.linalg.norm(w, 2) for w in leaves if w.ndim == 2])
        ),
    }


def load_data(args) -> tuple[str, Dataset]:
    """MNIST (``--data-root``, else ``$MDL_DATA/mnist``); the smoke run falls back to the
    built-in digits when MNIST is absent (and no ``--data-root`` was given)."""
    try:
        return "mnist", load("mnist", root=args.data_root)
    except FileNotFoundError as error:
        if not args.smoke or args.data_root is not None:
            raise
        print(f"MNIST not found ({error}); the smoke run uses the built-in digits", flush=True)
        return "digits", load("digits")


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="8 models of 256 examples (tests)")
    parser.add_argument("--data-root", default=None, help="MNIST folder (default: $MDL_DATA/mnist)")
    parser.add_argument("--out", type=Path, default=Path("results/generalization_measures"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = settings(args.smoke)
    data_name, data = load_data(args)
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. The sweeps (each resumes from its own folder).
    records = []
    for depth, lr, batch in itertools.product(
        config["depths"], config["learning_rates"], config["batch_sizes"]
    ):
        name = sweep_name(depth, lr, batch)
        sweep = SweepConfig(
            data=data_name,
            data_options={} if args.data_root is None else {"root": str(args.data_root)},
            model=model_spec(depth),
            compressor=COMPRESSOR,
            betas=(BETA,),
            seeds=(SEED,),
            label_noise=tuple(config["label_noise"]),
            train_sizes=tuple(config["train_sizes"]),
            widths=tuple(config["widths"]),
            epochs=config["epochs"],
            batch_size=batch,
            learning_rate=lr,
        )
        start = time.perf_counter()
        for record in run(sweep, args.out / name, data=data, progress=False):
            records.append((name, depth, lr, batch, record))
        print(f"sweep {name}: {time.perf_counter() - start:.0f} s", flush=True)

    # 2. The code lengths that depend only on the architecture and the training labels, kept
    # in code_lengths.jsonl with their settings (a rerun with other settings recomputes them).
    cache_path = args.out / "code_lengths.jsonl"
    cache = {}
    for record in read_records(cache_path) if cache_path.exists() else []:
        cache[record["estimator"], record["key"], json.dumps(record["settings"])] = record
    codes = {}
    for width, depth, n, noise in itertools.product(
        config["widths"], config["depths"], config["train_sizes"], config["label_noise"]
    ):
        key = f"width={width}_depth={depth}_n={n}_noise={noise!r}"
        codes[key] = {}
        for estimator, compute in ESTIMATORS.items():
            options = config[estimator]
            cache_key = (estimator, key, json.dumps(options))
            if cache_key not in cache:
                start = time.perf_counter()
                record = compute(data, width, depth, n, noise, options)
                record |= {"estimator": estimator, "key": key, "settings": options}
                record["seconds"] = time.perf_counter() - start
                append_record(cache_path, record)
                cache[cache_key] = record
                print(f"{estimator} {key}: {record['seconds']:.0f} s", flush=True)
            codes[key] |= cache[cache_key]

    # 3. One row per model, its measures from the decoded file.
    rows = []
    for name, depth, lr, batch, record in records:
        n, noise, width = record["train_size"], record["label_noise"], record["width"]
        x = data.x_train[:n]
        y = noisy_labels(data.y_train[:n], noise, SEED, data.num_classes)
        template = reference_model(model_spec(depth), data, seed=SEED, width=width)
        model_file = f"{name}/{record['model_file']}"
        path = args.out / model_file
        code = codes[f"width={width}_depth={depth}_n={n}_noise={noise!r}"]
        row = {
            "sweep": name,
            "point": record["point"],
            "width": width,
            "depth": depth,
            "learning_rate": lr,
            "batch_size": batch,
            "label_noise": noise,
            "train_size": n,
            "beta": record["beta"],
            "seed": record["seed"],
            "model_file": model_file,
            "file_bits": record["model_file_bits"],
            "structure_bits": record["structure_bits"],
            "two_part_bits": record["total_bits"],
            "train_data_bits": record["train_data_bits"],
            "train_error": record["train_error"],
            "test_error": record["test_error"],
            "gap": record["gap"],
            "train_loss": record["train_loss"],
            "parameter_count": record["num_params"],
            "occam_bound": record["error_bound"],
            "prequential_bits": code["prequential_bits"],
            "prequential_ideal_bits": code["prequential_ideal_bits"],
            "variational_bits": code["variational_bits"],
            "variational_kl_bits": code["variational_parts"]["kl"],
            **decoded_measures(path, template, x, y, data.y_train[:n]),
        }
        row["clean_gap"] = row["test_error"] - row["clean_train_error"]
        for measure in ("file_bits", "two_part_bits", "variational_bits", "prequential_bits"):
            row[f"{measure}_per_example"] = row[measure] / n
        rows.append(row)

    gaps = [row["gap"] for row in rows]
    clean_gaps = [row["clean_gap"] for row in rows]
    kendall_tau, clean_tau, granulated = {}, {}, {}
    for measure, key in MEASURES.items():
        values = [row[key] for row in rows]
        kendall_tau[measure] = kendall(values, gaps)
        clean_tau[measure] = kendall(values, clean_gaps)
        granulated[measure] = granulated_kendall(rows, key)
    ranked = sorted((t, m) for m, t in kendall_tau.items() if t is not None)
    summary = {
        "num_models": len(rows),
        "kendall_tau": kendall_tau,
        "best_measure": ranked[-1][1] if ranked else None,
        "granulated_kendall_tau": granulated,
        "kendall_tau_clean_gap": clean_tau,
        "settings": {
            **config,
            "beta": BETA,
            "seed": SEED,
            "pool": POOL,
            "compressor": list(COMPRESSOR),
            "data": data.source,
            "smoke": args.smoke,
        },
        "command": " ".join(["python -m experiments.generalization_measures", *argv]),
        "git_commit": git_commit(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "versions": manifest(sweep)["versions"],  # the last sweep's: the same program
        "wall_seconds": time.perf_counter() - started,
        "models": rows,
    }
    lines = "".join(json.dumps(row, sort_keys=True, allow_nan=False) + "\n" for row in rows)
    write_bytes_atomic(args.out / "models.jsonl", lines.encode())
    write_json_atomic(args.out / "summary.json", summary)
    print(f"{len(rows)} models, {summary['wall_seconds']:.0f} s")
    print(f"{'measure':<30} {'tau':>7} {'psi':>7} {'tau (clean gap)':>16}")
    for measure in MEASURES:
        tau, psi = kendall_tau[measure], granulated[measure]["psi"]
        print(f"{measure:<30} {_fmt(tau):>7} {_fmt(psi):>7} {_fmt(clean_tau[measure]):>16}")
    return summary


AXIS_TITLES = {"width": "width", "depth": "depth", "learning_rate": "lr",
               "batch_size": "batch", "label_noise": "noise", "train_size": "n"}  # fmt: skip


def _signed(value: float, decimals: int) -> str:
    return "0" if value == 0 else f"{value:+.{decimals}f}"


def results_table(summary: dict) -> str:
    """The Markdown table of ``experiments/generalization_measures.md``: each measure's tau,
    its granulated tau per axis and psi, and its tau against the clean gap. Bold: the best
    tau overall and among the measures that are not per-example counts or the bound, the best
    psi (every measure tied at it) and the best clean-gap tau."""
    taus, psis = summary["kendall_tau"], summary["granulated_kendall_tau"]
    clean = summary["kendall_tau_clean_gap"]
    raw = [m for m in MEASURES if not m.endswith("_per_example") and m != "occam_bound"]
    best_tau = {max(MEASURES, key=taus.get), max(raw, key=taus.get)}
    best_psi = max(psis[m]["psi"] for m in MEASURES)
    best_clean = max(MEASURES, key=clean.get)

    def bold(text: str, yes: bool) -> str:
        return f"**{text}**" if yes else text

    rows = []
    for m in MEASURES:
        psi = psis[m]
        rows.append([
            m, bold(f"{taus[m]:+.3f}", m in best_tau),
            *(_signed(psi[axis], 2) for axis in AXES),
            bold(f"{psi['psi']:+.2f}", round(psi["psi"], 2) == round(best_psi, 2)),
            bold(f"{clean[m]:+.3f}", m == best_clean),
        ])  # fmt: skip
    header = ["measure", "tau", *(AXIS_TITLES[a] for a in AXES), "**psi**", "tau, clean gap"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def grid_list(summary: dict) -> str:
    """The grid's axes and their values, as the Markdown list of the .md."""
    s = summary["settings"]

    def values(key: str, show=str) -> str:
        return "{" + ", ".join(show(v) for v in s[key]) + "}"

    sci = lambda v: re.sub(r"e-0*", "e-", f"{v:.0e}")  # noqa: E731 - 1e-3, 3e-3
    return "\n".join([
        f"- width {values('widths')};",
        f"- depth {values('depths')} hidden layers;",
        f"- learning rate {values('learning_rates', sci)};",
        f"- batch size {values('batch_sizes')};",
        f"- label noise {values('label_noise', lambda v: f'{v:g}')};",
        f"- training-set size {values('train_sizes')} (the first n MNIST training images).",
    ])  # fmt: skip


def _fmt(value) -> str:
    return "-" if value is None else f"{value:+.3f}"


if __name__ == "__main__":
    main()
