"""Does code length select models as well as a validation set, without spending data on it?

    python -m experiments.model_selection [--smoke] [--datasets digits mnist1d mnist]
        [--seeds 0 1 2] [--out DIR] [--data-root DIR]

For each data set and seed, every configuration of ``SPACE`` (an MLP's width and depth, a
prefix code: choosing one costs ``log2 6`` bits, charged to every code length below) is
trained by one fixed recipe (``RECIPES``: data bits + model bits, beta 1, every tensor
quantized with a learned spike-and-slab prior, Adam with cosine decay), and four criteria
choose among them:

* ``two_part``: the two-part code of the training labels (structure + model file + labels
  file, real files) of the configuration trained on *all* training data, plus the charge;
* ``prequential``: the prequential code of the training labels with chunk models of that
  architecture (mdl's defaults: doubling chunks, early stopping on seen labels), plus the
  charge; the chosen configuration's all-data model is the one tested;
* ``validation``: the error on a 10% validation split of the configuration trained on the
  other 90% (`mdl.data.validation_split`); that 90% model is the one tested;
* ``occam``: the Occam bound (kl form, delta 0.05) of the all-data model, its hypothesis code
  = structure + model file + the charge.

Each criterion sees training data only: every fit gets `mdl.data.without_test` or
`mdl.data.validation_split`. The test set is read once, after all choices, for the chosen
models (their files are reloaded). ``summary.json``: ``selections`` (data set -> method ->
``test_error``, ``code_bits`` (the chosen configuration's two-part total, charge included),
``seconds`` (the compute the criterion needed), means over seeds, and ``per_seed``),
``claim`` (whether ``two_part`` or ``prequential`` is within 0.5 points of ``validation``'s
test error, per data set) and the records (``records.jsonl``, one per fit; a rerun resumes).

The claim comes from the issue; the settings in ``RECIPES`` and ``SPACE`` were written down
before the first full run.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from experiments.harness import experiment_parser, write_summary
from mdl.bounds import occam_bound
from mdl.compress import load_compressed, quantizer, save_compressed
from mdl.cosine_adam import cosine_adam
from mdl.data import load, validation_split, without_test
from mdl.estimators import two_part
from mdl.inference import evaluate_model
from mdl.models import MLP
from mdl.records import append_record, read_records
from mdl.search import Choice, SearchSpace
from mdl.train import fit

SPACE = SearchSpace([Choice("width", (16, 64, 256)), Choice("depth", (1, 2))])
METHODS = ("two_part", "prequential", "validation", "occam")
NEEDS = {"two_part": "all", "prequential": "prequential", "validation": "split", "occam": "all"}
RECIPES = {  # name: (load options, inputs, epochs, learning rate, batch size)
    "digits": ({}, 64, 60, 3e-3, 64),
    "mnist1d": ({}, 40, 60, 3e-3, 128),
    "mnist": ({"flatten": True}, 784, 20, 2e-3, 128),
}
DELTA = 0.05
TOLERANCE = 0.005  # the "within 0.5 points"


def configurations(smoke: bool = False) -> list[dict]:
    """Every configuration of ``SPACE`` (the smoke run: the two one-layer ones of width 16 and
    64, still charged the whole space's code)."""
    configs = [
        {"width": w, "depth": d}
        for w in SPACE.dimensions[0].options
        for d in SPACE.dimensions[1].options
    ]
    return configs[:3:2] if smoke else configs


def config_id(config: dict) -> str:
    return f"w{config['width']}_d{config['depth']}"


def build(inputs: int, config: dict, seed: int) -> MLP:
    sizes = [inputs] + [config["width"]] * config["depth"] + [10]
    return MLP(sizes, rngs=nnx.Rngs(seed))


def train(data, inputs, config, seed, epochs, lr, batch_size):
    """The one recipe every configuration is trained by."""
    compressor = quantizer(lambda path, leaf: True, prior="spike_laplace")
    return fit(
        build(inputs, config, seed),
        data,
        compressor=compressor,
        optimizer=cosine_adam(lr, epochs=epochs, examples=len(data.y_train), batch_size=batch_size),
        epochs=epochs,
        batch_size=batch_size,
        beta=1.0,
        warmup_fraction=0.5,
        key=jax.random.key(seed),
        eval_every=max(1, epochs // 5),
        keep_best=True,  # the smallest training two-part total: a training-set choice
        progress=False,
    )


def measure(kind, data, dataset, config, seed, epochs, lr, batch_size, out: Path) -> dict:
    """One fit (``all``: all training data; ``split``: 90%, measured on the 10%) or one
    prequential code (``prequential``), as a record. No test data is given to any of them."""
    inputs = RECIPES[dataset][1]
    started = time.perf_counter()
    record = {"dataset": dataset, "seed": seed, "config": config_id(config), "kind": kind}
    if kind == "prequential":
        preq = importlib.import_module("mdl.estimators.prequential")  # the module, not the fn
        order = np.random.default_rng(seed).permutation(len(data.y_train))
        report = preq.prequential(
            lambda rngs: build(inputs, config, seed),
            data.x_train[order],
            data.y_train[order],
            num_classes=data.num_classes,
            seed=seed,
            max_epochs=epochs,
        )
        record["prequential_bits"] = report.total_bits
    else:
        result = train(data, inputs, config, seed, epochs, lr, batch_size)
        path = out / "models" / f"{dataset}_s{seed}_{config_id(config)}_{kind}.mdl"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_compressed(path, result.model, result.compressor, result.cstate)
        record["model_file"] = str(path.relative_to(out))
        if kind == "split":
            decoded = load_compressed(path)
            _, record["validation_error"] = evaluate_model(decoded, data.x_test, data.y_test)
        else:
            report = two_part(
                result.model,
                data.x_train,
                data.y_train,
                compressor=result.compressor,
                cstate=result.cstate,
            )
            charge = SPACE.bits(config)
            hypothesis = report.parts["structure"] + report.parts["params"] + charge
            _, train_error = evaluate_model(load_compressed(path), data.x_train, data.y_train)
            record.update(
                {
                    "two_part_bits": report.total_bits,
                    "train_error": train_error,
                    "hypothesis_bits": hypothesis,
                    "occam_bound": float(
                        occam_bound(train_error, hypothesis, len(data.y_train), DELTA)
                    ),
                }
            )
    record["seconds"] = time.perf_counter() - started
    return record


def choose(rows: dict[str, dict], method: str) -> str:
    """The configuration id a criterion picks among ``rows`` (ties: the first)."""
    charge = {cid: SPACE.bits(rows[cid]["config"]) for cid in rows}

    def criterion(cid):
        if method == "two_part":
            return rows[cid]["all"]["two_part_bits"] + charge[cid]
        if method == "prequential":
            return rows[cid]["prequential"]["prequential_bits"] + charge[cid]
        if method == "validation":
            return rows[cid]["split"]["validation_error"]
        return rows[cid]["all"]["occam_bound"]

    return min(rows, key=criterion)


def test_error(out: Path, model_file: str, data) -> float:
    """The one read of the test set: a chosen model, reloaded from its file."""
    return evaluate_model(load_compressed(out / model_file), data.x_test, data.y_test)[1]


def selection_table(summary: dict) -> str:
    """experiments/model_selection.md: each data set and criterion, its test error (mean over
    seeds, then each seed's), the chosen configurations, code length and compute."""
    from experiments.pages import markdown_table

    rows = []
    for dataset, methods in summary["selections"].items():
        for method, row in methods.items():
            per_seed = row["per_seed"]
            rows.append(
                [
                    dataset,
                    method,
                    f"{100 * row['test_error']:.2f}%",
                    " / ".join(f"{100 * r['test_error']:.2f}%" for r in per_seed),
                    " / ".join(r["config"] for r in per_seed),
                    f"{row['code_bits']:,.0f}",
                    f"{row['seconds']:,.0f}",
                ]
            )
    header = [
        "data",
        "criterion",
        "test error (mean)",
        "per seed",
        "chosen (width, depth)",
        "two-part bits of the choice",
        "compute (s)",
    ]
    return markdown_table(header, rows)


def main(argv=None) -> dict:
    start = time.perf_counter()
    parser = experiment_parser(
        __doc__, "model_selection", smoke="digits, 1 seed, 2 configurations", data_root=True
    )
    parser.add_argument("--datasets", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.smoke:
        args.datasets, args.seeds = ["digits"], [0]
    args.out.mkdir(parents=True, exist_ok=True)
    records_path = args.out / "records.jsonl"
    done = {
        (r["dataset"], r["seed"], r["config"], r["kind"]): r
        for r in (read_records(records_path) if records_path.exists() else [])
    }
    selections, claim = {}, {}
    for dataset in args.datasets:
        options, _, epochs, lr, batch_size = RECIPES[dataset]
        if args.smoke:
            epochs = 3
        root = {"root": args.data_root} if dataset == "mnist" and args.data_root else {}
        data = load(dataset, **options, **root)
        per_seed = {method: [] for method in METHODS}
        for seed in args.seeds:
            # the criteria's data sets: none of them holds the test split
            views = {
                "all": without_test(data),
                "split": validation_split(data, 0.1, seed=seed),
                "prequential": without_test(data),
            }
            rows: dict[str, dict] = {}
            for config in configurations(args.smoke):
                rows[config_id(config)] = {"config": config}
                for kind, view in views.items():
                    key = (dataset, seed, config_id(config), kind)
                    record = done.get(key)
                    if record is None or (
                        "model_file" in record and not (args.out / record["model_file"]).exists()
                    ):
                        record = measure(
                            kind, view, dataset, config, seed, epochs, lr, batch_size, args.out
                        )
                        append_record(records_path, record)
                        done[key] = record
                    rows[config_id(config)][kind] = record
            for method in METHODS:
                cid = choose(rows, method)
                chosen = rows[cid]["config"]
                tested = rows[cid]["split" if method == "validation" else "all"]  # its model
                per_seed[method].append(
                    {
                        "seed": seed,
                        "config": cid,
                        "test_error": test_error(args.out, tested["model_file"], data),
                        "code_bits": rows[cid]["all"]["two_part_bits"] + SPACE.bits(chosen),
                        "seconds": sum(rows[c][NEEDS[method]]["seconds"] for c in rows),
                    }
                )
        selections[dataset] = {
            method: {
                "test_error": float(np.mean([r["test_error"] for r in runs])),
                "code_bits": float(np.mean([r["code_bits"] for r in runs])),
                "seconds": float(np.mean([r["seconds"] for r in runs])),
                "per_seed": runs,
            }
            for method, runs in per_seed.items()
        }
        reference = selections[dataset]["validation"]["test_error"]
        claim[dataset] = any(
            abs(selections[dataset][m]["test_error"] - reference) <= TOLERANCE
            for m in ("two_part", "prequential")
        )
    summary = {
        "selections": selections,
        "claim": claim,
        "space": repr(SPACE),
        "space_bits": math.log2(len(configurations())),
        "seeds": args.seeds,
        "recipes": {d: RECIPES[d][1:] for d in args.datasets},
        "smoke": args.smoke,
    }
    write_summary(args.out, summary, start)
    for dataset, methods in selections.items():
        for method, row in methods.items():
            print(
                f"{dataset:8} {method:12} test error {row['test_error']:.2%}  "
                f"code {row['code_bits']:,.0f} bits  {row['seconds']:.0f} s"
            )
    print(json.dumps({"claim": claim}))
    return summary


if __name__ == "__main__":
    main()
