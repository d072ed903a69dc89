"""Committed summaries and records -> the paper's figures (PDF) and a README gallery (PNG).

One function per figure, each ``(results, path)``: it reads ``results/NAME/summary.json`` (or
the sweep's ``records.jsonl``) and writes ``path``; nothing is typed by hand. Where an
experiment already draws a figure (`experiments.formal_languages.write_figure`,
`experiments.text_compression.plot_curves`, `mdl.plots.description_length_curve`) it is
reused; the grokking figure is redrawn at print size (the experiment's own is one panel per
run, 16 inches wide). Matplotlib's Agg backend is chosen inside each function, never at import.

    python -m paper.figures OUT_DIR [--results experiments/results] [--gallery docs/figures]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "experiments" / "results"
GALLERY = REPO / "docs" / "figures"
FULL_WIDTH = 6.5  # inches: the text width of the paper
PRINT = {  # 8 pt text at the size the paper prints the figure
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window; set here, not at import
    import matplotlib.pyplot as plt

    return plt


def _summary(results: Path, name: str) -> dict:
    return json.loads((Path(results) / name / "summary.json").read_text())


def formal_languages(results: Path, path: Path) -> Path:
    """Every network's exact reach against its two-part code, one panel per language: the
    data of `experiments.formal_languages.write_figure` (whose figure is 12.6 in wide) at
    print size, with the axes shared and one legend above."""
    plt = _pyplot()
    summary = _summary(results, "formal_languages")
    languages = summary["languages"]
    names = {"anbn": "$a^nb^n$", "anbncn": "$a^nb^nc^n$", "dyck1": "Dyck-1"}
    with plt.rc_context(PRINT):
        fig, axes = plt.subplots(1, len(languages), figsize=(FULL_WIDTH, 2.5), sharey=True,
                                 squeeze=False, layout="constrained")
        for ax, (name, result) in zip(axes[0], languages.items(), strict=True):
            points = [
                (result["restarts"], dict(color="C0", s=14, label="MDL restarts")),
                ([result], dict(s=90, facecolors="none", edgecolors="C0",
                                label="selected by code length")),
                (result["baseline"]["runs"], dict(marker="x", color="C3", s=18,
                                                  label="cross-entropy runs")),
            ]
            golden = summary.get("golden_anbn")
            if name == "anbn" and golden:
                points.append(([golden], dict(marker="*", s=70, color="black",
                                              label="hand-set network")))
            for runs, style in points:
                ax.scatter([r["two_part_bits"] for r in runs],
                           [r["max_correct_n"] for r in runs], **style)
            ax.set(yscale="log", ylim=(0.8, 2 * summary["config"]["max_n"]),
                   title=names.get(name, name))
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("exact up to $n$")
        fig.supxlabel("two-part code of the training strings (bits)", fontsize=8)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=4, frameon=False)
        fig.savefig(path)
        plt.close(fig)
    return path


GROK_STYLE = {
    "none": ("none", "C7", "-"),
    "weight_decay": ("weight decay", "C0", "-"),
    "mdl": (r"MDL, $\beta=1$", "C3", "-"),
    "mdl_beta_0.1": (r"MDL, $\beta=0.1$", "C1", "--"),
}


def grokking(results: Path, path: Path) -> Path:
    """Addition and subtraction mod 97, side by side: the model file's bits (top; crosses
    where no quantization step kept every train prediction) and test accuracy (bottom)
    against step, one line per regularizer."""
    from experiments.grokking import ordered_runs

    plt = _pyplot()
    tasks = [name for name in ("grokking", "grokking_subtraction")
             if (Path(results) / name / "summary.json").is_file()]
    with plt.rc_context(PRINT):
        fig, axes = plt.subplots(2, len(tasks), figsize=(FULL_WIDTH, 4.2), sharex=True,
                                 squeeze=False, layout="constrained")
        for column, name in enumerate(tasks):
            summary = _summary(results, name)
            title = "$a {op} b$ mod {p}".format(**summary["settings"])
            bits, accuracy = axes[0][column], axes[1][column]
            for key, run in ordered_runs(summary).items():
                label, color, style = GROK_STYLE.get(key, (key, None, "-"))
                curve = [p for p in run["curve"] if p["step"] > 0]  # a log axis
                steps = [p["step"] for p in curve]
                bits.plot(steps, [p["model_bits"] for p in curve], style, color=color, lw=1.2,
                          label=label)
                capped = [p for p in curve if not p["predictions_kept"]]
                bits.plot([p["step"] for p in capped], [p["model_bits"] for p in capped], "x",
                          color=color, ms=3)
                accuracy.plot(steps, [1 - p["test_error"] for p in curve], style, color=color,
                              lw=1.2, label=label)
            bits.axhline(summary["uniform_bits"], color="black", ls=":", lw=1,
                         label="labels, uniform code")
            bits.set(xscale="log", yscale="log", title=title)
            accuracy.set(xscale="log", xlabel="training step", ylim=(0, 1.02))
            for ax in (bits, accuracy):
                ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("model file (bits)")
        axes[1][0].set_ylabel("test accuracy")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=5, frameon=False)
        fig.savefig(path)
        plt.close(fig)
    return path


def text_compression(results: Path, path: Path) -> Path:
    """Cumulative bits per character along the King James Bible: the experiment's figure
    (6.5 in wide, already print-sized)."""
    from experiments.text_compression import plot_curves

    _pyplot()
    plot_curves(_summary(results, "text_compression")["methods"], path)
    return path


GEN_SHOWN = ["file_bits", "two_part_bits", "variational_bits", "prequential_bits",
             "l2_norm", "spectral_norm_product", "parameter_count", "train_loss",
             "file_bits_per_example", "two_part_bits_per_example",
             "variational_bits_per_example", "prequential_bits_per_example", "occam_bound"]


def generalization_measures(results: Path, path: Path) -> Path:
    """Left: each measure's Kendall tau against the generalization gap and against the clean
    gap; right: the gap against the model file's bits per example, by label noise."""
    import numpy as np

    plt = _pyplot()
    summary = _summary(results, "generalization_measures")
    measures = [m for m in GEN_SHOWN if m in summary["kendall_tau"]]
    with plt.rc_context(PRINT):
        fig, (taus, scatter) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 3.0),
                                            layout="constrained", width_ratios=(1.25, 1))
        y = np.arange(len(measures))
        taus.barh(y - 0.2, [summary["kendall_tau"][m] for m in measures], 0.4,
                  label="gap", color="C0")
        taus.barh(y + 0.2, [summary["kendall_tau_clean_gap"][m] for m in measures], 0.4,
                  label="clean gap", color="C1")
        taus.set_yticks(y, [m.replace("_per_example", " / n") for m in measures])
        taus.invert_yaxis()
        taus.axvline(0, color="black", lw=0.8)
        taus.set(xlabel=r"Kendall $\tau$ with the gap")
        taus.legend(frameon=False, loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
        taus.grid(axis="x", alpha=0.3)
        models = summary["models"]
        for noise, color in zip(sorted({m["label_noise"] for m in models}), ("C0", "C3", "C2"),
                                strict=False):
            group = [m for m in models if m["label_noise"] == noise]
            scatter.scatter([m["file_bits_per_example"] for m in group],
                            [m["gap"] for m in group], s=10, color=color,
                            label=f"label noise {noise:g}")
        scatter.axhline(0, color="black", lw=0.8)
        scatter.set(xlabel="model file bits / n",
                    ylabel="test error $-$ train error")
        scatter.legend(frameon=False, loc="lower left", bbox_to_anchor=(-0.05, 1), ncol=2,
                       columnspacing=0.8, handletextpad=0.2)
        scatter.grid(alpha=0.3)
        fig.savefig(path)
        plt.close(fig)
    return path


def _sweep_curve(results: Path, name: str, path: Path, uniform_classes: int | None = None):
    """`mdl.plots.description_length_curve` of a committed sweep; with ``uniform_classes``,
    also the uniform code of the training labels (n_train log2 classes)."""
    import math

    from mdl.plots import description_length_curve
    from mdl.records import read_records

    records = read_records(Path(results) / name)
    fig = description_length_curve(records)
    if uniform_classes:
        uniform = records[0]["n_train"] * math.log2(uniform_classes)
        ax = fig.axes[0]
        ax.axhline(uniform, color="black", ls="-.", lw=0.8, label="labels, uniform code")
        ax.legend(frameon=False, fontsize=7, loc="center right")
    fig.savefig(path)
    return path


def label_noise(results: Path, path: Path) -> Path:
    """The MNIST label-noise sweep's two-part code along the noise fraction (mdl.plots), with
    the uniform code of the labels."""
    return _sweep_curve(results, "mnist_label_noise", path, uniform_classes=10)


def kjv_char_rnn(results: Path, path: Path) -> Path:
    """The character GRU sweep's two-part code of the King James Bible slice along beta."""
    return _sweep_curve(results, "kjv_char_rnn", path)


def adaptation(results: Path, path: Path) -> Path:
    """Test error against file bits on the target digits, for each delta of a reference
    trained on the source digits and for the same network from scratch at three betas; one
    panel per arm."""
    plt = _pyplot()
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    summary = _summary(results, "adaptation")
    arms = [(arm, f"{summary['arms'][arm]['train_examples']:,} target images")
            for arm in ("all", "small")]
    markers = {"head": "s", "lora": "^", "sparse": "D", "dense": "o"}
    with plt.rc_context(PRINT):
        fig, axes = plt.subplots(1, 2, figsize=(FULL_WIDTH, 2.4), constrained_layout=True)
        for ax, (arm, title) in zip(axes, arms, strict=True):
            runs = summary["arms"][arm]
            scratch = sorted(runs["scratch"].values(), key=lambda row: row["file_bits"])
            ax.plot([r["file_bits"] for r in scratch], [100 * r["test_error"] for r in scratch],
                    "k--", marker="x", label="scratch (beta 10, 3, 1)")
            for name, row in runs["deltas"].items():
                ax.plot(row["delta_bits"], 100 * row["test_error"], markers[name],
                        label=f"{name} delta")
            ax.set_xlabel("file bits (delta, or whole model)")
            ax.set_ylabel("test error on the target digits (%)")
            ax.set_yscale("log")
            # plain percentages at round values, no 3x10^0 labels
            ax.yaxis.set_major_locator(FixedLocator([1, 1.5, 2, 3, 5, 7, 10, 20, 50, 100]))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(title)
        axes[0].legend(frameon=False)
        fig.savefig(path)
        plt.close(fig)
    return path


FIGURES = {
    "formal_languages": formal_languages,
    "grokking": grokking,
    "text_compression": text_compression,
    "generalization_measures": generalization_measures,
    "label_noise": label_noise,
    "kjv_char_rnn": kjv_char_rnn,
    "adaptation": adaptation,
}
# The README's gallery: these figures again as PNG, docs/figures/paper_NAME.png.
GALLERY_FIGURES = ["grokking", "formal_languages", "generalization_measures", "label_noise",
                   "text_compression"]


def write_figures(out: str | Path, results: str | Path = RESULTS,
                  gallery: str | Path | None = None) -> list[Path]:
    """Every figure as ``out/NAME.pdf``, and the gallery's as ``gallery/paper_NAME.png``
    when ``gallery`` is given; returns the paths written."""
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")  # PDFs without a creation date
    out, results = Path(out), Path(results)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    # TrueType fonts embedded in the PDFs (Type 3 fonts are refused by some venues).
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        written = [draw(results, out / f"{name}.pdf") for name, draw in FIGURES.items()]
        if gallery is not None:
            Path(gallery).mkdir(parents=True, exist_ok=True)
            written += [FIGURES[name](results, Path(gallery) / f"paper_{name}.png")
                        for name in GALLERY_FIGURES]
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the PDF figures")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results tree")
    parser.add_argument("--gallery", type=Path, help="also write PNG copies here (paper_*.png)")
    args = parser.parse_args(argv)
    for path in write_figures(args.out, args.results, args.gallery):
        print(path)


if __name__ == "__main__":
    main()
