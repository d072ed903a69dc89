"""Figures from sweep records: compression against generalization, the Pareto front, and the
total description length whose minimum is the MDL choice.

Every function takes records (plain dicts, as `mdl.records.read_records` returns them)
and returns a matplotlib ``Figure`` sized for a paper (7 in wide for two panels, 3.4 in for
one, 8 pt text); `plot_results` draws all three from a results folder and saves each as
PNG (200 dpi) and PDF. Seeds become bands: the line is the mean over seeds at each value of the
swept axis (beta, or label noise, training-set size or width when beta is fixed), the band
spans their minimum and maximum. Figures are built without pyplot, so importing this module
never changes the matplotlib backend of a notebook.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from mdl.records import read_records

MODEL_CODE_LABEL = "model code bits (structure + file)"
AXIS_LABELS = {
    "beta": "beta (weight on model bits)",
    "label_noise": "label noise fraction",
    "train_size": "training examples",
    "width": "width",
}

STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def swept_axis(records: list[dict]) -> str:
    """The axis the figures run along: beta when it varies, else the first of label noise,
    training-set size and width that does (beta when none does)."""
    for axis in ("beta", "label_noise", "train_size", "width"):
        if len({r.get(axis) for r in records}) > 1:
            return axis
    return "beta"


def by_axis(
    records: list[dict], key: str, axis: str = "beta"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(values, mean, low, high)`` of ``key`` over the seeds at each value of ``axis``,
    values ascending."""
    if not records:
        raise ValueError("no records to plot; run a sweep first")
    values = np.array(sorted({float(r[axis]) for r in records}))
    groups = [np.array([float(r[key]) for r in records if float(r[axis]) == v]) for v in values]
    return (
        values,
        np.array([g.mean() for g in groups]),
        np.array([g.min() for g in groups]),
        np.array([g.max() for g in groups]),
    )


def by_beta(records: list[dict], key: str):
    """`by_axis` along beta."""
    return by_axis(records, key, "beta")


def _model_key(records: list[dict]) -> str:
    # The two-part model code (structure + file) where records have it.
    return "model_code_bits" if all("model_code_bits" in r for r in records) else "model_file_bits"


def _total(record: dict) -> float:
    return float(record[_model_key([record])]) + float(record["train_data_bits"])


def _figure(width: float) -> Figure:
    return Figure(figsize=(width, 2.6), layout="constrained")


def _band(ax, x, mean, low, high, label, **style):
    (line,) = ax.plot(x, mean, marker="o", markersize=3, label=label, **style)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def compression_vs_generalization(records: list[dict]):
    """Left: test error, train error and the Occam bound against model bits (the real two-part
    model code); right: the generalization gap against model bits. Points ordered along the
    swept axis."""
    axis, model_key = swept_axis(records), _model_key(records)
    with matplotlib.rc_context(STYLE):
        fig = _figure(7.0)
        left, right = fig.subplots(1, 2)
        _, bits, _, _ = by_axis(records, model_key, axis)
        for key, label in (("test_error", "test error"), ("train_error", "train error")):
            _band(left, bits, *by_axis(records, key, axis)[1:], label=label)
        if all(r.get("error_bound") is not None for r in records):
            bound = by_axis(records, "error_bound", axis)[1:]
            _band(left, bits, *bound, label="Occam bound", ls="--")
        left.set(xscale="log", xlabel=MODEL_CODE_LABEL, ylabel="error", ylim=(0, 1.02))
        left.legend(frameon=False)
        _band(right, bits, *by_axis(records, "gap", axis)[1:], label="test - train error")
        right.set(xscale="log", xlabel=MODEL_CODE_LABEL, ylabel="generalization gap")
        right.legend(frameon=False)
    return fig


def pareto_indices(cost, error) -> np.ndarray:
    """Indices of the points no other point beats (``<=`` on both, ``<`` on one), by cost."""
    cost, error = np.asarray(cost, float), np.asarray(error, float)
    if cost.shape != error.shape or cost.ndim != 1:
        raise ValueError(
            f"cost and error must be 1-D of one length; got {cost.shape}, {error.shape}"
        )
    front, best = [], np.inf
    for i in np.lexsort((error, cost)):
        if error[i] < best:
            front.append(i)
            best = error[i]
    return np.array(front, dtype=int)


def pareto_front(records: list[dict]):
    """Every point's (model bits, test error), with the points no other beats on both."""
    if not records:
        raise ValueError("no records to plot; run a sweep first")
    model_key = _model_key(records)
    bits = np.array([float(r[model_key]) for r in records])
    error = np.array([float(r["test_error"]) for r in records])
    front = pareto_indices(bits, error)
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.4)
        ax = fig.subplots()
        scatter = ax.scatter(
            bits, error, c=np.log10([max(float(r["beta"]), 1e-12) for r in records]), s=10
        )
        ax.plot(bits[front], error[front], color="black", lw=1, drawstyle="steps-post")
        fig.colorbar(scatter, ax=ax, label="log10 beta")
        ax.set(xscale="log", xlabel=MODEL_CODE_LABEL, ylabel="test error", title="Pareto front")
    return fig


def description_length_curve(records: list[dict]):
    """Total description length (model code + train data bits) along the swept axis; the
    minimum marks the MDL choice."""
    axis, model_key = swept_axis(records), _model_key(records)
    with matplotlib.rc_context(STYLE):
        fig = _figure(3.4)
        ax = fig.subplots()
        betas, model, _, _ = by_axis(records, model_key, axis)
        _, data, _, _ = by_axis(records, "train_data_bits", axis)
        totals = [dict(r, total_bits=_total(r)) for r in records]
        _, total, low, high = by_axis(totals, "total_bits", axis)
        logscale = axis == "beta" and (betas > 0).any()
        x = np.where(betas > 0, betas, np.nan) if logscale else betas
        _band(ax, x, total, low, high, label="total")
        ax.plot(x, model, lw=1, ls="--", label="model")
        ax.plot(x, data, lw=1, ls=":", label="data | model")
        best = int(np.argmin(total))
        ax.scatter([x[best]], [total[best]], s=40, facecolor="none", edgecolor="red", zorder=3)
        ax.annotate(
            f"MDL choice: {axis}={betas[best]:g}",
            (x[best], total[best]),
            textcoords="offset points",
            xytext=(-4, 8) if best > len(betas) / 2 else (4, 8),
            ha="right" if best > len(betas) / 2 else "left",
            color="red",
        )
        if logscale and (betas > 0).all() or axis == "train_size":
            ax.set_xscale("log")
        ax.set(xlabel=AXIS_LABELS[axis], ylabel="bits", title="description length")
        ax.legend(frameon=False)
    return fig


FIGURES = {
    "compression_vs_generalization": compression_vs_generalization,
    "pareto_front": pareto_front,
    "description_length": description_length_curve,
}


def plot_results(results: str | os.PathLike) -> list[Path]:
    """Draw every figure from ``results/records.jsonl`` into ``results/figures/``, as PNG and
    PDF; returns the paths written (the main figure's PNG first)."""
    results = Path(results)
    records = read_records(results)
    if not records:
        raise ValueError(f"{results} has no records (records.jsonl is missing or empty)")
    folder = results / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES.items():
        fig = draw(records)
        for suffix, options in ((".png", {"dpi": 200}), (".pdf", {})):
            path = folder / f"{name}{suffix}"
            # Save to a temporary name, then rename: a figure appears whole or not at all.
            tmp = path.with_name(f".{path.name}.tmp{suffix}")
            fig.savefig(tmp, **options)
            os.replace(tmp, path)
            written.append(path)
    return written
