"""The ``mdl`` command: run sweeps, draw their figures, print their tables.

mdl sweep [--config FILE.toml] [--data NAME] [--smoke] [--out DIR] [--betas ...] ...
mdl plot RESULTS_DIR
mdl report RESULTS_DIR
mdl --version
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_OUT = "results/sweep"


def _number_list(kind):
    def parse(text: str):
        try:
            values = [kind(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}s, got {text!r}"
            ) from None
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value, got an empty list")
        return values

    return parse


def _parser() -> argparse.ArgumentParser:
    from mdl import __version__
    from mdl.data import LOADERS

    parser = argparse.ArgumentParser(
        prog="mdl",
        description="Minimum description length for neural networks: sweeps of the trade-off "
        "between model bits and data bits, their figures and tables.",
    )
    parser.add_argument("--version", action="version", version=f"mdl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sweep = commands.add_parser(
        "sweep",
        help="train one compressed model per (beta, seed) as one compiled program",
        description="Train one quantized MLP per (beta, seed) point, minimizing data bits + "
        "beta x model bits, all points at once (vmapped, sharded over devices). Writes "
        "records.jsonl, manifest.json, models/ and figures/ into --out, resumes an interrupted "
        "run, and prints a table.",
    )
    sweep.add_argument(
        "--config", type=Path, help="TOML file with SweepConfig fields (top level or [sweep])"
    )
    sweep.add_argument(
        "--data", choices=sorted(LOADERS), help="data set (default: digits, built in)"
    )
    sweep.add_argument(
        "--smoke", action="store_true", help="a tiny sweep that runs in seconds (for checks)"
    )
    sweep.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="results folder")
    sweep.add_argument(
        "--betas", type=_number_list(float), help="weights on model bits, e.g. 0.01,0.1,1"
    )
    sweep.add_argument("--seeds", type=_number_list(int), help="seeds per beta, e.g. 0,1,2")
    sweep.add_argument("--epochs", type=int, help="training epochs per point")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")

    plot = commands.add_parser("plot", help="draw a results folder's figures (PNG and PDF)")
    plot.add_argument("results", type=Path, help="a folder written by `mdl sweep`")
    report = commands.add_parser("report", help="print a results folder's table")
    report.add_argument("results", type=Path, help="a folder written by `mdl sweep`")
    return parser


def report_table(records: list[dict]) -> str:
    """Per beta, means over seeds: model bits (file), train and test error, gap, Occam bound,
    total description length; ``*`` marks the MDL choice (the smallest total)."""
    from mdl.plots import by_beta

    if not records:
        return "(no records)"
    totals = [dict(r, total_bits=r["model_file_bits"] + r["train_data_bits"]) for r in records]
    columns = {
        "model bits": by_beta(records, "model_file_bits")[1],
        "train err": by_beta(records, "train_error")[1],
        "test err": by_beta(records, "test_error")[1],
        "gap": by_beta(records, "gap")[1],
        "sparsity": by_beta(records, "sparsity")[1],
        "bound": by_beta(records, "error_bound")[1],
        "total bits": by_beta(totals, "total_bits")[1],
    }
    betas = by_beta(records, "beta")[0]
    seeds = [sum(float(r["beta"]) == b for r in records) for b in betas]
    best = int(np.argmin(columns["total bits"]))
    header = f"  {'beta':>8} {'seeds':>5} " + " ".join(f"{name:>10}" for name in columns)
    lines = [header]
    for i, beta in enumerate(betas):
        cells = []
        for name, values in columns.items():
            value = values[i]
            cells.append(f"{value:>10.0f}" if "bits" in name else f"{value:>10.4f}")
        mark = "*" if i == best else " "
        lines.append(f"{mark} {beta:>8g} {seeds[i]:>5d} " + " ".join(cells))
    lines.append("* the MDL choice: smallest total (model file bits + train data bits)")
    return "\n".join(lines)


def _sweep(args) -> int:
    from mdl.plots import plot_results
    from mdl.sweep import SweepConfig, run

    overrides = {}
    if args.data:
        overrides["data"] = args.data
    if args.betas:
        overrides["betas"] = args.betas
    if args.seeds:
        overrides["seeds"] = args.seeds
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.config and args.smoke:
        raise ValueError("--smoke and --config exclude each other; pick one")
    if args.config:
        config = SweepConfig.from_toml(args.config, **overrides)
    elif args.smoke:
        config = SweepConfig.smoke(**overrides)
    else:
        config = SweepConfig(**overrides)
    records = run(config, args.out, progress=not args.no_progress)
    paths = plot_results(args.out)
    print(report_table(records))
    print(f"records: {args.out / 'records.jsonl'}")
    print(f"figure: {paths[0]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "sweep":
            return _sweep(args)
        from mdl.records import read_records

        if not (args.results / "records.jsonl").exists():
            raise ValueError(f"{args.results} holds no records.jsonl; run `mdl sweep` first")
        if args.command == "plot":
            from mdl.plots import plot_results

            for path in plot_results(args.results):
                print(path)
        else:
            print(report_table(read_records(args.results)))
        return 0
    except (ValueError, TypeError, FileNotFoundError) as error:
        # Bad options and refused folders: the message, not a traceback (exit status 2, as
        # argparse uses for usage errors).
        parser.exit(2, f"mdl {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
