"""Figures from sweep records: compression against generalization, the Pareto front, and the
total description length whose minimum is the MDL choice.

Every function takes records (plain dicts, as :func:`mdl.records.read_records` returns them)
and returns a matplotlib ``Figure`` sized for a paper (7 in wide for two panels, 3.4 in for
one, 8 pt text); :func:`plot_results` draws all three from a results folder and saves each as
PNG (200 dpi) and PDF. Seeds become bands: the line is the mean over seeds at each beta, the
band spans their minimum and maximum.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (CI, remote machines)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mdl.records import read_records  # noqa: E402

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


def by_beta(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(betas, mean, low, high)`` of ``key`` over the seeds of each beta, betas ascending."""
    if not records:
        raise ValueError("no records to plot; run a sweep first")
    betas = np.array(sorted({float(r["beta"]) for r in records}))
    groups = [np.array([float(r[key]) for r in records if float(r["beta"]) == b]) for b in betas]
    return (
        betas,
        np.array([g.mean() for g in groups]),
        np.array([g.min() for g in groups]),
        np.array([g.max() for g in groups]),
    )


def _band(ax, x, mean, low, high, label, **style):
    (line,) = ax.plot(x, mean, marker="o", markersize=3, label=label, **style)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


def compression_vs_generalization(records: list[dict]):
    """Left: test error, train error and the Occam bound against model bits (the real file);
    right: the generalization gap against model bits. Points ordered by beta."""
    with plt.rc_context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.6), constrained_layout=True)
        _, bits, _, _ = by_beta(records, "model_file_bits")
        for key, label in (("test_error", "test error"), ("train_error", "train error")):
            _band(left, bits, *by_beta(records, key)[1:], label=label)
        if all("error_bound" in r for r in records):
            _band(left, bits, *by_beta(records, "error_bound")[1:], label="Occam bound", ls="--")
        left.set(xscale="log", xlabel="model bits (file)", ylabel="error", ylim=(0, 1.02))
        left.legend(frameon=False)
        _band(right, bits, *by_beta(records, "gap")[1:], label="test - train error")
        right.set(xscale="log", xlabel="model bits (file)", ylabel="generalization gap")
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
    bits = np.array([float(r["model_file_bits"]) for r in records])
    error = np.array([float(r["test_error"]) for r in records])
    front = pareto_indices(bits, error)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 2.6), constrained_layout=True)
        scatter = ax.scatter(
            bits, error, c=np.log10([max(float(r["beta"]), 1e-12) for r in records]), s=10
        )
        ax.plot(bits[front], error[front], color="black", lw=1, drawstyle="steps-post")
        fig.colorbar(scatter, ax=ax, label="log10 beta")
        ax.set(xscale="log", xlabel="model bits (file)", ylabel="test error", title="Pareto front")
    return fig


def description_length_curve(records: list[dict]):
    """Total description length (model file bits + train data bits) against beta; the minimum
    marks the MDL choice."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.4, 2.6), constrained_layout=True)
        betas, model, _, _ = by_beta(records, "model_file_bits")
        _, data, _, _ = by_beta(records, "train_data_bits")
        totals = [dict(r, total_bits=r["model_file_bits"] + r["train_data_bits"]) for r in records]
        _, total, low, high = by_beta(totals, "total_bits")
        x = np.where(betas > 0, betas, np.nan) if (betas > 0).any() else betas
        _band(ax, x, total, low, high, label="total")
        ax.plot(x, model, lw=1, ls="--", label="model")
        ax.plot(x, data, lw=1, ls=":", label="data | model")
        best = int(np.argmin(total))
        ax.scatter([x[best]], [total[best]], s=40, facecolor="none", edgecolor="red", zorder=3)
        ax.annotate(
            f"MDL choice: beta={betas[best]:g}",
            (x[best], total[best]),
            textcoords="offset points",
            xytext=(-4, 8) if best > len(betas) / 2 else (4, 8),
            ha="right" if best > len(betas) / 2 else "left",
            color="red",
        )
        if (betas > 0).all():
            ax.set_xscale("log")
        ax.set(xlabel="beta (weight on model bits)", ylabel="bits", title="description length")
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
        plt.close(fig)
    return written
