"""Formal languages: does the shortest network count where cross-entropy training does not?

    python -m experiments.formal_languages [--smoke] [--out DIR]

Lan, Geyer, Chemla and Katzir (TACL 2022) found tiny recurrent networks that recognize a^n b^n,
a^n b^n c^n and Dyck-1 exactly by minimizing a description length with a genetic search; their
follow-up (Lan, Chemla, Katzir, ACL 2024) trained 3,360 LSTMs by gradient descent under L1, L2,
dropout and early stopping on a^n b^n and none was correct for every n up to 1,000. Here both
arms are trained by gradient descent, on the same cell (`mdl.models.CountingRNN`: a diagonal
linear recurrence and a small ReLU readout, whose all-in-one parameter vector pays one step and
one prior):

* **MDL**: the two-part code length ``data bits + model bits`` (beta = 1, no choice to make),
  with mdl's learned quantizer on a power-of-two grid (`mdl.compress.quantize.quantizer` with
  ``power_of_two_steps``: a counter needs a self-connection of exactly 1 and increments that
  cancel exactly, which a grid of dyadic rationals holds and float weights only approach). Each
  restart is a float warm-up by cross-entropy, then the MDL objective from an initial step of
  1/2 or 1/4.
* **Baseline**: the same cell at float32 trained by cross-entropy with no penalty, L1 or L2
  (strength 1e-4), early-stopped on a validation split (10% of the training strings), each run
  for as many epochs as one MDL restart's warm-up and MDL phases together (full size: 2 seeds
  x 3 regularizers = 7,200 epochs against the MDL arm's 4 warm-ups and 8 restarts, 8,000).
  Dropout is not tried: the cell has no hidden layer in its recurrence to drop.

Selection, fixed before the run and never by a test figure: the MDL arm keeps the restart with
the shortest two-part code of the training strings (real files, `mdl.estimators.two_part`);
the baseline keeps the (seed, regularizer) with the smallest validation cross-entropy. The
test strings are read once, after the choice, for every restart (so the counts of restarts
that generalize are reported too, beside the selected one).

Reported per language: the selected network's two-part code (|G| + |D:G|, structure + model
file + data file, each decoded back), its test cross-entropy (bits per symbol, strings
n = 1..``test_max_n``) beside the training law's own code of the test strings
(`mdl.data.formal_languages.string_bits`; ``optimal_cross_entropy``: the optimum for strings
drawn from that law, a reference rather than a floor here, since the test lengths are not
drawn from it), and ``max_correct_n``: the largest N such that for
every n <= N the network's most probable next symbol is allowed at every position of the
n-th string (a^n b^n and a^n b^n c^n: a^n b^n (c^n); Dyck-1: (^n )^n, the deepest nesting),
evaluated exactly for every n up to 1,000, then at n = 2,000 and 4,000. At a
position the language determines, "allowed" is the one symbol: Lan et al.'s deterministic
accuracy. For a^n b^n a hand-set golden network (small dyadic weights that count exactly) is
coded with the same codecs for comparison. Every MDL restart's network and the selected
baseline's are written to ``--out`` as self-describing files (``NAME.modl``, readable with
`mdl.compress.files.load_compressed`) and their hard weights (``NAME_weights.json``).

Training strings: 500 per language (the larger of Lan et al.'s two set sizes), n ~
Geometric(0.3), n >= 1 (Dyck-1: stop at depth 0 with probability 0.3).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from experiments.harness import experiment_parser, write_summary
from mdl.codes.data_codes import PADDING, next_token
from mdl.codes.integers import log_star_bits
from mdl.compress import float32_baseline, quantizer
from mdl.compress.files import save_compressed
from mdl.data.dataset import Dataset
from mdl.data.formal_languages import (
    counting_string,
    encode_strings,
    load_formal_language,
    string_bits,
)
from mdl.estimators import two_part
from mdl.models import CountingRNN
from mdl.params import split_params
from mdl.records import write_json_atomic
from mdl.train import fit

P = 0.3
NUM_TRAIN = 500
MAX_TRAIN_N = 30
CELLS = {"anbn": (2, 4), "anbncn": (3, 6), "dyck1": (2, 4)}  # (state, readout)
FULL = {
    "seeds": 4,
    "baseline_seeds": 2,
    "initial_steps": (0.5, 0.25),
    "warmup_epochs": 400,
    "mdl_epochs": 800,
    "test_max_n": 100,
    "max_n": 1000,
    "beyond": (2000, 4000),
    "languages": ("anbn", "anbncn", "dyck1"),
}
SMOKE = {
    "seeds": 1,
    "baseline_seeds": 1,
    "initial_steps": (0.5,),
    "warmup_epochs": 20,
    "mdl_epochs": 20,
    "test_max_n": 12,
    "max_n": 40,
    "beyond": (60,),
    "languages": ("anbn",),
}
BASELINE_PENALTIES = {"none": 0.0, "l1": 1e-4, "l2": 1e-4}
BATCH = 50


class TestStrings(NamedTuple):
    """The test strings (n = 1..``test_max_n``; Dyck-1: sampled), read only after selection."""

    x: np.ndarray
    y: np.ndarray  # -1 after each string's end
    strings: list


def language_data(language: str, test_max_n: int) -> tuple[Dataset, Dataset, TestStrings]:
    """``(train, validation, test)``: the training strings as next-symbol targets (padding
    ``-1`` after each string's end), with the training strings themselves as the split that
    `mdl.train.fit` evaluates, so that no training run reads a test string; the same strings
    cut 90/10 into training and validation (the baseline's early stopping); the test strings."""
    ds = load_formal_language(
        language, num_train=NUM_TRAIN, p=P, max_n=MAX_TRAIN_N, test_max_n=test_max_n, seed=0
    )
    # The loader pads every array to the longest test string; training needs only its own.
    length = int(ds.extras["mask_train"].sum(axis=1).max())
    x = ds.x_train[:, :length]
    y = np.where(ds.extras["mask_train"], ds.y_train, -1)[:, :length]
    cut = int(0.9 * len(x))

    def dataset(x_fit, y_fit, x_eval, y_eval):
        return Dataset(
            x_fit,
            y_fit,
            x_eval,
            y_eval,
            num_classes=ds.num_classes,
            input_shape=(length,),
            source=ds.source,
        )

    test = TestStrings(
        ds.x_test, np.where(ds.extras["mask_test"], ds.y_test, -1), ds.extras["strings_test"]
    )
    return dataset(x, y, x, y), dataset(x[:cut], y[:cut], x[cut:], y[cut:]), test


def structure_bits(model: CountingRNN) -> float:
    """The cell's structure code: Rissanen's log* of the alphabet, state and readout widths
    (the family is fixed by the experiment, so it costs nothing)."""
    return float(np.sum(log_star_bits([model.vocab_size, model.state, model.readout])))


def probe_string(language: str, n: int) -> str:
    """The n-th string of the exact evaluation: a^n b^n (c^n), or Dyck-1's deepest nesting."""
    return "(" * n + ")" * n if language == "dyck1" else counting_string(language, n)


def correct_strings(model: nnx.Module, language: str, ns) -> np.ndarray:
    """For each n, whether the model's most probable next symbol is allowed at every position
    of `probe_string` (exact: every position, float32 forward pass)."""
    forward = jax.jit(lambda tokens: jnp.argmax(model(tokens), -1))
    ns = list(ns)
    result = np.zeros(len(ns), bool)
    for start in range(0, len(ns), 100):
        chunk = ns[start : start + 100]
        strings = [probe_string(language, n) for n in chunk]
        x, _, mask, allowed = encode_strings(language, strings, max(map(len, strings)) + 1)
        predicted = np.asarray(forward(jnp.asarray(x)))
        hit = np.take_along_axis(allowed, predicted[..., None], -1)[..., 0]
        result[start : start + len(chunk)] = np.where(mask, hit, True).all(axis=1)
    return result


def max_correct_n(model: nnx.Module, language: str, max_n: int) -> int:
    """The largest N <= ``max_n`` with every n <= N correct (`correct_strings`); 0 if n = 1
    fails already."""
    ok = correct_strings(model, language, range(1, max_n + 1))
    return max_n if ok.all() else int(np.argmin(ok))


def test_bits_per_symbol(
    model: nnx.Module, language: str, test: TestStrings
) -> tuple[float, float]:
    """``(model, law)``: bits per real test symbol under the model, and under the training law
    (`string_bits`: the optimum for strings drawn from that law; the test strings are not, so a
    model expecting longer strings can come in under it)."""
    # The training objective's own data code: -log2 p over the real tokens, padding skipped.
    bits = float(np.sum(next_token().bits(model(jnp.asarray(test.x)), jnp.asarray(test.y))))
    symbols = float(np.sum(test.y != PADDING))
    optimum = sum(string_bits(language, s, P) for s in test.strings)
    return bits / symbols, optimum / symbols


def at_step(cstate, step: float):
    """The quantizer state with every step set to ``step`` (a power of two)."""
    return jax.tree.map(
        lambda leaf: leaf._replace(log_step=jnp.float32(math.log(step))),
        cstate,
        is_leaf=lambda leaf: hasattr(leaf, "log_step"),
    )


def _sign_penalty(strength: float) -> optax.GradientTransformation:
    """Adds ``strength * sign(w)`` to the gradient: the L1 penalty's (sub)gradient."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda g, w: g + strength * jnp.sign(w), updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _evaluate(model, compressor, cstate, language, data, test, config, structure) -> dict:
    """Two-part code on the training strings (real files, decoded back), test cross-entropy and
    the exact evaluation of the hard model."""
    report = two_part(
        model,
        data.x_train,
        data.y_train,
        data_code="next_token",
        compressor=compressor,
        cstate=cstate,
        structure=structure,
    )
    graphdef, params = split_params(model)
    hard = nnx.merge(graphdef, compressor.hard(params, cstate))
    test_bits, optimum = test_bits_per_symbol(hard, language, test)
    beyond = correct_strings(hard, language, config["beyond"])
    return {
        "two_part_bits": report.total_bits,
        "parts": report.parts,
        "test_cross_entropy": test_bits,
        "optimal_cross_entropy": optimum,
        "max_correct_n": max_correct_n(hard, language, config["max_n"]),
        "correct_beyond": {
            str(n): bool(ok) for n, ok in zip(config["beyond"], beyond, strict=True)
        },
    }


def mdl_restarts(language: str, config: dict, out: Path) -> tuple[list[dict], list]:
    """Every MDL restart (seed x initial step): float warm-up by cross-entropy, then the
    two-part objective with power-of-two quantization. Each restart's network is written to
    ``out`` (`write_network`). Returns the records and, in the same order,
    ``(model, compressor, cstate)`` of each."""
    data, _, test = language_data(language, config["test_max_n"])
    state, readout = CELLS[language]
    records, trained = [], []
    for seed in range(config["seeds"]):
        model = CountingRNN(data.num_classes, state=state, readout=readout, rngs=nnx.Rngs(seed))
        warm = fit(
            model,
            data,
            data_code="next_token",
            optimizer=optax.adam(1e-2),
            epochs=config["warmup_epochs"],
            batch_size=BATCH,
            beta=0.0,
            key=jax.random.key(seed),
            eval_every=config["warmup_epochs"],
            progress=False,
        )
        for initial_step in config["initial_steps"]:
            graphdef, params = split_params(warm.model)
            compressor = quantizer(lambda path, leaf: True, power_of_two_steps=True)
            cstate = at_step(compressor.init(params), initial_step)
            result = fit(
                nnx.merge(graphdef, params),
                data,
                compressor=compressor,
                cstate=cstate,
                data_code="next_token",
                optimizer=optax.adam(3e-3),
                epochs=config["mdl_epochs"],
                batch_size=BATCH,
                beta=1.0,
                warmup_fraction=0.5,
                key=jax.random.key(1000 + seed),
                eval_every=config["mdl_epochs"],
                progress=False,
            )
            structure = structure_bits(result.model)
            record = {"seed": seed, "initial_step": initial_step}
            record |= _evaluate(
                result.model, compressor, result.cstate, language, data, test, config, structure
            )
            name = f"{language}_mdl_seed{seed}_step{initial_step}"
            record["network"] = write_network(out, name, result.model, compressor, result.cstate)
            records.append(record)
            trained.append((result.model, compressor, result.cstate))
    return records, trained


def baseline_runs(language: str, config: dict) -> tuple[list[dict], list]:
    """The same cell at float32 by cross-entropy (no penalty, L1, L2), early-stopped on the
    validation split, for the MDL arm's total epochs."""
    data, validation, test = language_data(language, config["test_max_n"])
    state, readout = CELLS[language]
    epochs = config["warmup_epochs"] + config["mdl_epochs"]
    records, trained = [], []
    for seed in range(config["baseline_seeds"]):
        for name, strength in BASELINE_PENALTIES.items():
            optimizer = optax.adam(1e-2)
            if name == "l2":
                optimizer = optax.chain(optax.add_decayed_weights(strength), optimizer)
            elif name == "l1":
                optimizer = optax.chain(_sign_penalty(strength), optimizer)
            model = CountingRNN(data.num_classes, state=state, readout=readout, rngs=nnx.Rngs(seed))
            result = fit(
                model,
                validation,
                data_code="next_token",
                optimizer=optimizer,
                epochs=epochs,
                batch_size=BATCH,
                beta=0.0,
                key=jax.random.key(seed),
                eval_every=max(1, epochs // 40),
                keep_best="test_data_bits",
                progress=False,
            )
            best = min(result.history, key=lambda h: h["test_data_bits"])
            compressor = float32_baseline()
            cstate = compressor.init(split_params(result.model)[1])
            record = {
                "seed": seed,
                "regularizer": name,
                "strength": strength,
                "stopped_epoch": best["epoch"],
                "validation_bits": best["test_data_bits"],
            }
            structure = structure_bits(result.model)
            record |= _evaluate(
                result.model, compressor, cstate, language, data, test, config, structure
            )
            records.append(record)
            trained.append((result.model, compressor, cstate))
    return records, trained


def golden_anbn(config: dict) -> dict:
    """A hand-set a^n b^n network in the cell's layout (state: a's less b's; readout units:
    "b read and the count is 0", "b read", "a read", "# read"), coded with the quantizer at a
    step of 1/4 (every weight is a multiple of it) like the trained networks."""
    data, _, test = language_data("anbn", config["test_max_n"])
    model = CountingRNN(3, state=2, readout=4, rngs=nnx.Rngs(0))
    tensors = {
        "embed": [[0, 0], [1, 0], [-1, 0]],  # rows #, a, b
        "decay": [1, 0],
        # rows: state 1, state 2, # read, a read, b read; columns: the four readout units
        "hidden": [[-1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [1, 1, 0, 0]],
        "hidden_bias": [0, 0, 0, 0],
        # columns #, a, b: end after the last b; b while b's remain; a 0.75 nat over b after
        # an a (P(a) = 0.68 against the law's 0.7); a after the first #
        "output": [[12, 0, 0], [0, 0, 4], [0, 0.75, 0], [0, 4, 0]],
        "output_bias": [-4, 0, 0],
    }
    flat = np.concatenate([np.asarray(tensors[k], np.float32).reshape(-1) for k in model.shapes()])
    model.weights[...] = jnp.asarray(flat)
    compressor = quantizer(lambda path, leaf: True, power_of_two_steps=True)
    cstate = at_step(compressor.init(split_params(model)[1]), 0.25)
    # The prior's scale and spike are learned as in training, with the weights held fixed.
    graphdef, params = split_params(model)
    learn = optax.adam(0.05)
    opt_state = learn.init(cstate)
    rate = jax.jit(jax.grad(lambda c: compressor.bits(params, c)))
    for _ in range(300):
        updates, opt_state = learn.update(rate(cstate), opt_state)
        cstate = at_step(optax.apply_updates(cstate, updates), 0.25)
    record = {"weights": tensors}
    record |= _evaluate(
        model, compressor, cstate, "anbn", data, test, config, structure_bits(model)
    )
    return record


def write_network(out: Path, name: str, model, compressor, cstate) -> dict:
    """The network's self-describing file (``NAME.modl``) and its hard weights as JSON."""
    size = save_compressed(out / f"{name}.modl", model, compressor, cstate)
    graphdef, params = split_params(model)
    hard = nnx.merge(graphdef, compressor.hard(params, cstate))
    weights = {k: np.asarray(v).tolist() for k, v in hard.tensors().items()}
    write_json_atomic(out / f"{name}_weights.json", weights)
    return {"file": f"{name}.modl", "file_bytes": size, "weights": f"{name}_weights.json"}


def run_language(language: str, config: dict, out: Path) -> dict:
    """Both arms on one language, the selections and the selected networks' files."""
    mdl_records, mdl_trained = mdl_restarts(language, config, out)
    base_records, base_trained = baseline_runs(language, config)
    chosen = int(np.argmin([r["two_part_bits"] for r in mdl_records]))
    chosen_base = int(np.argmin([r["validation_bits"] for r in base_records]))
    result = dict(mdl_records[chosen])
    result["network"] = write_network(out, f"{language}_mdl", *mdl_trained[chosen])
    result["restarts"] = mdl_records
    # File lengths are whole 32-bit words, so restarts can tie; the rule (fixed before the
    # first full run) takes the first, and the summary names every tied restart.
    shortest = mdl_records[chosen]["two_part_bits"]
    result["tied_restarts"] = [
        i for i, r in enumerate(mdl_records) if r["two_part_bits"] == shortest
    ]
    result["restarts_correct_to_max_n"] = sum(
        r["max_correct_n"] == config["max_n"] for r in mdl_records
    )
    baseline = dict(base_records[chosen_base])
    baseline["network"] = write_network(out, f"{language}_baseline", *base_trained[chosen_base])
    baseline["runs"] = base_records
    baseline["runs_correct_to_max_n"] = sum(
        r["max_correct_n"] == config["max_n"] for r in base_records
    )
    result["baseline"] = baseline
    return result


def write_figure(summary: dict, path: Path) -> Path:
    """One panel per language: every network's exact-evaluation reach (max_correct_n, log
    scale) against its two-part code of the training strings (real files). MDL restarts are
    dots (the selected one ringed), cross-entropy baselines crosses, the golden a^n b^n
    network a star: whether the shorter code is the network that counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    languages = summary["languages"]
    fig, axes = plt.subplots(1, len(languages), figsize=(4.2 * len(languages), 3.6), squeeze=False)
    for ax, (name, result) in zip(axes[0], languages.items(), strict=True):
        restarts, runs = result["restarts"], result["baseline"]["runs"]
        ax.scatter(
            [r["two_part_bits"] for r in restarts],
            [r["max_correct_n"] for r in restarts],
            color="tab:blue",
            label="MDL restarts",
        )
        ax.scatter(
            [result["two_part_bits"]],
            [result["max_correct_n"]],
            s=160,
            facecolors="none",
            edgecolors="tab:blue",
            label="selected by code length",
        )
        ax.scatter(
            [r["two_part_bits"] for r in runs],
            [r["max_correct_n"] for r in runs],
            marker="x",
            color="tab:red",
            label="cross-entropy (L1, L2, none)",
        )
        golden = summary.get("golden_anbn")
        if name == "anbn" and golden:
            ax.scatter(
                [golden["two_part_bits"]],
                [golden["max_correct_n"]],
                marker="*",
                s=160,
                color="black",
                label="golden network",
            )
        ax.set_yscale("log")
        ax.set_ylim(0.8, 2 * summary["config"]["max_n"])
        ax.set_title(name)
        ax.set_xlabel("two-part code of the training strings (bits)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("max_correct_n (exact)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> dict:
    parser = experiment_parser(__doc__, "formal_languages", smoke="one language, tiny runs")
    args = parser.parse_args(argv)
    config = dict(SMOKE if args.smoke else FULL)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    languages = {}
    for language in config["languages"]:
        # One file per finished language: an interrupted run resumes at the next language.
        done = args.out / f"{language}.json"
        if done.exists() and json.loads(done.read_text()).get("config") == _jsonable(config):
            languages[language] = json.loads(done.read_text())["result"]
            continue
        languages[language] = run_language(language, config, args.out)
        write_json_atomic(done, {"config": _jsonable(config), "result": languages[language]})
    summary = {
        "languages": languages,
        "golden_anbn": golden_anbn(config) if "anbn" in config["languages"] else None,
        "config": _jsonable(config),
        "p": P,
        "num_train": NUM_TRAIN,
        "max_train_n": MAX_TRAIN_N,
        "cells": {k: {"state": s, "readout": r} for k, (s, r) in CELLS.items()},
        "selection": (
            "MDL arm: the restart with the shortest two-part code of the training strings; "
            "baseline: the (seed, regularizer) with the smallest cross-entropy on a validation "
            "split of 10% of the training strings; test strings read only after both choices"
        ),
        "seconds": time.perf_counter() - start,
    }
    write_figure(summary, args.out / "reach_vs_code.png")
    write_summary(args.out, summary, start)
    return summary


def _jsonable(config: dict) -> dict:
    return json.loads(json.dumps(config))


if __name__ == "__main__":
    main()
