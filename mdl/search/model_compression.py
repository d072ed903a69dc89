r"""Compress a model family on a data set automatically: search its training settings by the
two-part code, write the winner's file, report its size, error and bound.

`compress_model` searches ``space`` (default `default_space`: beta, epochs, learning rate and
the weight prior) with `mdl.search.search`; each trial trains the family's model from scratch on
*all* training data (no test split: `mdl.data.without_test`) to minimize data bits + beta x
model bits with a learned quantizer, writes its file, and scores

$$ L(c) + L_{\text{structure}} + L(\text{file}) + L(\text{labels} \mid \text{model}), $$

the configuration's codeword plus the two-part code of the training labels, every part a real
file. The winner's file is copied to ``OUT/model.mdl``; the test set is read once, for it,
after the search. The Occam bound (kl form) charges the hypothesis its structure code, its
file and the configuration's codeword.

With ``max_error`` the search answers the compression literature's question instead: the
smallest file whose error meets a target. Each trial then trains on 90% of the training data
(``validation_fraction`` held out by `mdl.data.validation_split`, still no test data), its
objective is the model's own code, $L(c) + L_{\text{structure}} + L(\text{file})$, and it is
feasible when its error on the held-out part is at most ``max_error``; the winner is the
shortest feasible one (`mdl.search.search` with ``constrained=True``). The target is the
caller's, written down before the search; the test set is still read once, after it.

This is what ``mdl compress-model`` runs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from mdl.bounds import occam_bound
from mdl.codes.data_codes import categorical
from mdl.compress import (
    Compressor,
    chain,
    hard_concrete,
    load_compressed,
    quantizer,
    save_compressed,
)
from mdl.cosine_adam import cosine_adam
from mdl.data import Dataset, validation_split, without_test
from mdl.data.shift import check_shift
from mdl.estimators import two_part
from mdl.inference import check_data_code_fits, evaluate_model
from mdl.models import MLP, ConvNet, lenet5, lenet_300_100, parameter_count
from mdl.params import split_params
from mdl.records import write_json_atomic
from mdl.search.space import Choice, Real, SearchSpace
from mdl.search.study import SearchResult, search
from mdl.train import fit


def _mlp(data: Dataset, seed: int, hidden: tuple[int, ...]):
    """The fully connected network from the data's inputs through ``hidden`` to its classes."""
    return MLP([int(np.prod(data.input_shape)), *hidden, data.num_classes], rngs=nnx.Rngs(seed))


FAMILIES: dict[str, Callable[[Dataset, int], object]] = {
    "lenet5": lambda data, seed: lenet5(seed=seed),
    "lenet_300_100": lambda data, seed: lenet_300_100(seed=seed),
    "convnet": lambda data, seed: ConvNet(
        [8, 16], input_pool=2, image_shape=tuple(data.input_shape[:2]), rngs=nnx.Rngs(seed)
    ),
    "mlp": lambda data, seed: _mlp(data, seed, (64,)),
}
"""Model families by name: ``(data, seed) -> fresh model``."""

WIDTH_FAMILIES = ("lenet_300_100", "mlp")
"""The fully connected families, whose hidden widths a space's ``widths`` dimension may set."""


def parse_widths(text: str) -> tuple[int, ...]:
    """``"300,100"`` -> ``(300, 100)``: hidden widths, each a positive integer.

    Raises:
      ValueError: for anything else, naming the text.
    """
    try:
        widths = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise ValueError(
            f"widths must be positive integers separated by commas, such as '300,100'; got {text!r}"
        )
    return widths


def build_model(family: str, data: Dataset, seed: int, widths: str | None = None):
    """``FAMILIES[family](data, seed)``; with ``widths`` (a fully connected family,
    ``WIDTH_FAMILIES``), the same network with these hidden widths: LeNet-300-100 with
    ``"100,50"`` is the 784-100-50-10 network, the full one with neurons removed."""
    if widths is None:
        return FAMILIES[family](data, seed)
    if family not in WIDTH_FAMILIES:
        raise ValueError(
            f"widths apply to the fully connected families {WIDTH_FAMILIES}; got {family!r}"
        )
    return _mlp(data, seed, parse_widths(widths))


def _every_leaf(path, leaf) -> bool:
    return True


COMPRESSORS: dict[str, Callable[[str], Compressor]] = {
    "quantizer": lambda prior: quantizer(_every_leaf, prior=prior),
    "live_block": lambda prior: quantizer(_every_leaf, prior=prior, live_block=True),
    "pruned": lambda prior: chain(hard_concrete(), quantizer(_every_leaf, prior=prior)),
    "filter_pruned": lambda prior: chain(
        hard_concrete(r"conv.*kernel", structured=True), quantizer(_every_leaf, prior=prior)
    ),
}
"""Compressors a search space's ``compressor`` dimension may name: ``prior -> Compressor``.
Every tensor is quantized (with the ``prior`` dimension's prior); ``live_block`` codes each
kernel's dead input and output units as flags and only its live block bin by bin
(`mdl.compress.quantizer`'s ``live_block``); ``pruned`` first gates every
weight matrix and kernel (hard-concrete L0), ``filter_pruned`` whole output channels of the
convolution kernels (so it fits only families with kernels whose path holds ``conv``)."""


def _choice_options(space: SearchSpace, name: str, what: str) -> tuple:
    """The options of ``space``'s dimension ``name`` (none when it has no such dimension),
    which must be a `Choice` (of ``what``, for the error)."""
    dimension = next((d for d in space.dimensions if d.name == name), None)
    if dimension is None:
        return ()
    if not isinstance(dimension, Choice):
        raise ValueError(f"the {name} dimension must be a Choice of {what}; got {dimension}")
    return dimension.options


def check_shifts_fit(space: SearchSpace, data: Dataset) -> None:
    """Refuse, before any training, an ``augment`` dimension that is not a `Choice` of shifts
    the data's images allow (`mdl.data.shift.check_shift`)."""
    for shift in _choice_options(space, "augment", "shifts"):
        try:
            check_shift(shift, tuple(data.x_train.shape[1:]))
        except ValueError as error:
            raise ValueError(
                f"search space: augment {shift!r} does not fit the data: {error}"
            ) from error


def check_widths_fit(space: SearchSpace, family: str, data: Dataset) -> None:
    """Refuse, before any training, a ``widths`` dimension that is not a `Choice` of hidden
    widths (``"300,100"``...), or one for a family that is not fully connected."""
    for widths in _choice_options(space, "widths", "hidden widths such as '300,100'"):
        try:
            build_model(family, data, 0, widths)
        except ValueError as error:
            raise ValueError(f"search space: widths {widths!r}: {error}") from error


def check_compressors_fit(space: SearchSpace, model) -> None:
    """Refuse, before any training, a ``compressor`` choice that is unknown or does not fit
    ``model`` (its ``init`` fails on the model's parameters: a selection that matches no
    tensor, structured gates on tensors without an output axis...)."""
    options = _choice_options(space, "compressor", "names")
    if not options:
        return
    _, params = split_params(model)
    for name in options:
        if name not in COMPRESSORS:
            raise ValueError(
                f"search space: compressor {name!r} is unknown; known: {', '.join(COMPRESSORS)}"
            )
        try:
            COMPRESSORS[name]("spike_laplace").init(params)
        except ValueError as error:
            raise ValueError(
                f"search space: compressor {name!r} does not fit the model "
                f"({type(model).__name__}): {error}"
            ) from error


def default_space() -> SearchSpace:
    """beta in [0.03, 3] (16 log-spaced points), epochs in {5, 10, 20, 40}, learning rate in
    [3e-4, 3e-3] (8 log-spaced points), prior spike-and-slab Laplace or Laplace:
    4 + 2 + 3 + 1 = 10 bits."""
    return SearchSpace(
        [
            Real("beta", 0.03, 3.0, precision=4, log=True),
            Choice("epochs", (5, 10, 20, 40)),
            Real("learning_rate", 3e-4, 3e-3, precision=3, log=True),
            Choice("prior", ("spike_laplace", "laplace")),
        ]
    )


def smoke_space() -> SearchSpace:
    """Two one-epoch configurations (beta 0.3 or 3: 1 bit), for checks that run in seconds
    (``--smoke`` of ``mdl compress-model`` and of the experiments)."""
    return SearchSpace([Real("beta", 0.3, 3.0, precision=1, log=True), Choice("epochs", (1,))])


def compress_model(
    family: str,
    data: Dataset,
    *,
    out: str | Path,
    trials: int = 20,
    budget_seconds: float | None = None,
    space: SearchSpace | None = None,
    batch_size: int = 128,
    seed: int = 0,
    delta: float = 0.05,
    max_error: float | None = None,
    validation_fraction: float = 0.1,
    sampler: str = "tpe",
    first: Sequence[Mapping[str, Any]] = (),
    progress: bool = False,
) -> dict:
    """Search, write and report (module doc).

    Args:
      family: a key of ``FAMILIES``.
      data: the data set; its test split is read once, after the search.
      out: the results folder: ``search.journal`` (the trials; a rerun resumes),
        ``trials/`` (each trial's file), ``model.mdl`` (the winner), ``summary.json``,
        ``pareto.png``.
      trials: configurations to evaluate at most.
      budget_seconds: stop proposing after this long (None: no limit).
      space: the search space; its dimensions must be among ``beta``, ``epochs``,
        ``learning_rate``, ``prior``, ``compressor`` (a `Choice` of ``COMPRESSORS`` names) and
        ``augment`` (a `Choice` of shifts in pixels: `mdl.train.fit`'s ``augment``) and
        ``widths`` (a `Choice` of hidden widths such as ``"100,50"``, fully connected families
        only: `build_model`); default `default_space`, no shifts, the family's widths.
      batch_size: minibatch size of every trial.
      seed: model initialization, batch order and the sampler's seed.
      delta: the bound's confidence parameter.
      max_error: None: minimize the two-part code on all training data. A target in (0, 1):
        find the smallest model file whose validation error is at most this (module doc).
      validation_fraction: the share of the training data held out to check ``max_error``.
      sampler: the proposal strategy (`mdl.search.search`'s): ``"tpe"``, ``"random"``,
        ``"grid"`` (every point of a space of `Choice` dimensions once, as many as the budget
        allows), ``"qmc"``, or ``"bisect"`` with ``max_error`` (one free, ordered setting,
        e.g. beta: the largest value whose validation error meets the target, by bisection,
        `mdl.search.bisection`).
      first: configurations to evaluate before the sampler's own, in this order (the points
        of a grid the budget may cut short that look most promising before the run).
      progress: progress bars.

    Returns:
      The summary (also written): the winner's configuration, ``file_bytes``, ``ratio``
      (float32 bytes of the family's full model, ``parameters``, over the file's bytes, as the
      pruning literature counts: narrower ``widths`` remove neurons; ``model_parameters`` is
      the winner's own count), ``train_error``, ``test_error``, ``two_part_bits``,
      ``search_bits``, ``error_bound``, ``parameters`` and every trial's figures; with
      ``max_error`` also ``validation_error``, ``max_error`` and ``feasible`` (whether any
      configuration met the target; if none did, the winner is the one nearest to it).

    Raises:
      ValueError: for an unknown family, a space with other dimensions, a compressor choice
        that is unknown or does not fit the family's model, a shift the images do not allow,
        widths that are not positive integers or for a family that is not fully connected,
        a model whose outputs do not fit the data's labels, a ``max_error`` or
        ``validation_fraction`` outside (0, 1), an unknown sampler or a ``first``
        configuration outside the space; before any training.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    space = space or default_space()
    allowed = {"beta", "epochs", "learning_rate", "prior", "compressor", "augment", "widths"}
    names = {d.name for d in space.dimensions}
    if not names <= allowed:
        raise ValueError(f"space dimensions must be among {sorted(allowed)}; got {sorted(names)}")
    if max_error is not None and not 0 < max_error < 1:
        raise ValueError(f"max_error must be in (0, 1) or None; got {max_error!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction!r}")
    out = Path(out)
    (out / "trials").mkdir(parents=True, exist_ok=True)
    # the target's check needs data the trial did not train on: a validation split of the
    # training data (whose "test" part is the validation part), never the test set
    train = (
        without_test(data)
        if max_error is None
        else validation_split(data, validation_fraction, seed=seed)
    )
    full = FAMILIES[family](data, seed)  # the family's own model: the checks and the ratio's base
    check_data_code_fits(*split_params(full), train, categorical())
    check_compressors_fit(space, full)
    check_shifts_fit(space, data)
    check_widths_fit(space, family, data)
    started = time.perf_counter()
    defaults = {
        "beta": 1.0,
        "epochs": 10,
        "learning_rate": 1e-3,
        "prior": "spike_laplace",
        "compressor": "quantizer",
        "augment": 0,
        "widths": None,
    }

    def objective(config: dict) -> dict:
        settings = {**defaults, **config}
        model = build_model(family, data, seed, settings["widths"])
        compressor = COMPRESSORS[settings["compressor"]](settings["prior"])
        result = fit(
            model,
            train,
            compressor=compressor,
            optimizer=cosine_adam(
                settings["learning_rate"],
                epochs=settings["epochs"],
                examples=len(train.y_train),
                batch_size=batch_size,
            ),
            epochs=settings["epochs"],
            batch_size=batch_size,
            beta=settings["beta"],
            warmup_fraction=0.5,
            key=jax.random.key(seed),
            eval_every=settings["epochs"],
            augment=settings["augment"],
            progress=progress,
        )
        # one file per configuration: a digest of its JSON (distinct configurations, names)
        name = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
        path = out / "trials" / f"{name}.mdl"
        file_bytes = save_compressed(path, result.model, compressor, result.cstate)
        report = two_part(
            result.model, train.x_train, train.y_train, compressor=compressor, cstate=result.cstate
        )
        decoded = load_compressed(path)
        _, train_error = evaluate_model(decoded, train.x_train, train.y_train)
        info = {
            "bits": report.total_bits,
            "file_bytes": file_bytes,
            "model_file": str(path.relative_to(out)),
            "structure_bits": report.parts["structure"],
            "train_error": train_error,
            "two_part_bits": report.total_bits,
            "fit_examples": len(train.y_train),
        }
        if max_error is not None:
            _, validation_error = evaluate_model(decoded, train.x_test, train.y_test)
            info["bits"] = report.parts["structure"] + 8.0 * file_bytes  # the model's code
            info["validation_error"] = validation_error
            info["violation"] = max(0.0, validation_error - max_error)
        return info

    result = search(
        objective,
        space,
        trials=trials,
        out=out,
        seed=seed,
        budget_seconds=budget_seconds,
        sampler=sampler,
        first=first,
        constrained=max_error is not None,
        # a study of its own per objective: a journal shared with another target's search
        # never mixes their trials
        study_name="mdl-search" if max_error is None else f"mdl-search max_error={max_error!r}",
    )
    target = (
        {}
        if max_error is None
        else {
            "max_error": max_error,
            "validation_error": result.info["validation_error"],
            "feasible": result.feasible,
        }
    )
    return _report(family, parameter_count(full), data, out, result, started, delta, target)


def _report(
    family,
    count: int,
    data,
    out: Path,
    result: SearchResult,
    started: float,
    delta: float,
    target: dict,
) -> dict:
    """Copy the winner's file, read the test set once for it, write and return the summary;
    ``count``: the full family's parameters, as pruning counts (the ratio's base)."""
    shutil.copyfile(out / result.info["model_file"], out / "model.mdl")
    decoded = load_compressed(out / "model.mdl")
    _, test_error = evaluate_model(decoded, data.x_test, data.y_test)  # the one test read
    file_bytes = result.info["file_bytes"]
    hypothesis = result.info["structure_bits"] + 8 * file_bytes + result.search_bits
    m = result.info.get("fit_examples", len(data.y_train))  # the examples it trained on
    summary = {
        "family": family,
        "config": result.config,
        "file_bytes": file_bytes,
        "parameters": count,
        "model_parameters": parameter_count(decoded),
        "ratio": 4 * count / file_bytes,
        "train_error": result.info["train_error"],
        "test_error": test_error,
        "two_part_bits": result.info.get("two_part_bits", result.objective_bits),
        "search_bits": result.search_bits,
        "total_bits": result.total_bits,
        "error_bound": float(occam_bound(result.info["train_error"], hypothesis, m, delta)),
        "delta": delta,
        "seconds": time.perf_counter() - started,
        "trials": result.trials,
        **target,
    }
    write_json_atomic(out / "summary.json", summary)
    _plot(summary, out / "pareto.png")
    return summary


def _log_ticks(values: np.ndarray):
    """A major-tick locator for a log axis over ``values`` (positive) that puts at least two
    labels within their range without crowding, the coarsest that does: powers of ten, else 1,
    2 and 5 per decade, else every digit, else (a range narrower than between two digits, such
    as 6,351 to 7,103, where a log axis is nearly linear) a few evenly spaced round values."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    low, high = float(np.min(values)), float(np.max(values))
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    for subs in ((1.0,), (1.0, 2.0, 5.0), tuple(float(m) for m in range(1, 10))):
        inside = [m * 10.0**d for d in decades for m in subs if low <= m * 10.0**d <= high]
        if len(inside) >= 2:
            return LogLocator(subs=subs)
    return MaxNLocator(nbins=3)


def _plot(summary: dict, path: Path) -> None:
    """Every trial's file size against its training error, the front and the winner."""
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window; set here, not at import
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from mdl.plots import pareto_indices

    # a target's search is judged on its validation error, the two-part search on training data
    which = "validation_error" if "max_error" in summary else "train_error"
    size = np.array([t["info"]["file_bytes"] for t in summary["trials"]], float)
    error = np.array([t["info"][which] for t in summary["trials"]], float)
    front = pareto_indices(size, error)
    fig, ax = plt.subplots(figsize=(4.2, 3.2))
    ax.scatter(size, 100 * error, s=12, label="trials")
    ax.plot(size[front], 100 * error[front], color="black", lw=1, drawstyle="steps-post")
    if "max_error" in summary:
        ax.axhline(100 * summary["max_error"], color="gray", ls="--", lw=1, label="target")
        winner = "smallest file on target" if summary["feasible"] else "nearest (none on target)"
    else:
        winner = "shortest two-part code"
    ax.scatter(
        [summary["file_bytes"]],
        [100 * summary[which]],
        marker="*",
        s=120,
        color="red",
        label=winner,
    )
    # errors may span 0.1% to 90%: a log axis keeps the accurate trials apart
    ax.set(xscale="log", yscale="log", xlabel="model file (bytes)")
    ax.set_ylabel(which.replace("_", " "))
    # a few trials may span less than a decade, where 1-2-5 ticks can all fall outside
    ax.yaxis.set_major_locator(_log_ticks(100 * error))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(_log_ticks(size))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a log axis
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
