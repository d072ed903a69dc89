"""The ``mdl`` command: run sweeps, draw their figures, print their tables.

mdl sweep [--config FILE.toml] [--data NAME] [--smoke] [--out DIR] [--betas ...] ...
mdl plot RESULTS_DIR
mdl report RESULTS_DIR
mdl compress [--method online|two-part] [--force] IN OUT
mdl decompress [--force] IN OUT
mdl compress-model --model FAMILY --data NAME [--trials N] [--budget-minutes M]
    [--max-error E] [--shifts 0,1,2] [--widths 300,100 100,50]
    [--compressors quantizer live_block] [--beta LOW HIGH] [--beta-bits B] [--epochs N]
    [--learning-rate LR] [--prior NAME] [--sampler tpe|random|grid|qmc|bisect] [--out DIR]
mdl --version
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import tomllib
from pathlib import Path

import numpy as np


class UsageError(Exception):
    """A bad option, config or results folder: reported as a message, exit status 2."""


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
        help="train one compressed model per sweep point as one compiled program",
        description="Train one compressed model per point (beta x seed x label noise x "
        "training-set size x width), minimizing data bits + beta x model bits, same-shaped "
        "points at once (vmapped, sharded over devices). Writes "
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
    sweep.add_argument("--model", help="reference model name (MLP, ConvNet, LeNet5, CharRNN, ...)")
    sweep.add_argument(
        "--label-noise", type=_number_list(float), help="label noise fractions, e.g. 0,0.5,1"
    )
    sweep.add_argument(
        "--train-sizes", type=_number_list(int), help="training-set sizes, e.g. 100,1000"
    )
    sweep.add_argument("--widths", type=_number_list(int), help="model widths, e.g. 16,64")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")

    plot = commands.add_parser("plot", help="draw a results folder's figures (PNG and PDF)")
    plot.add_argument("results", type=Path, help="a folder written by `mdl sweep`")
    report = commands.add_parser("report", help="print a results folder's table")
    report.add_argument("results", type=Path, help="a folder written by `mdl sweep`")

    compress = commands.add_parser(
        "compress",
        help="compress a file with a character language model (like gzip)",
        description="Compress any file with a GRU language model over its bytes: 'online' "
        "learns while it codes and sends no weights; 'two-part' trains first, then sends the "
        "quantized model and the text coded with it. `mdl decompress` restores the file byte "
        "for byte on the same machine type and library versions.",
    )
    compress.add_argument("input", type=Path, help="file to compress")
    compress.add_argument("output", type=Path, help="archive to write")
    compress.add_argument("--method", choices=["online", "two-part"], default="online")
    compress.add_argument("--hidden", type=int, help="GRU width (default 256)")
    compress.add_argument("--streams", type=int, help="interleaved streams (default 16)")
    compress.add_argument("--window", type=int, help="steps per training window (default 8)")
    compress.add_argument("--learning-rate", type=float, help="Adam's step (default 0.005)")
    compress.add_argument("--epochs", type=int, help="two-part: training passes (default 4)")
    compress.add_argument("--beta", type=float, help="two-part: weight of model bits (1)")
    compress.add_argument("--force", action="store_true", help="overwrite OUTPUT")
    compress.add_argument("--no-progress", action="store_true", help="no progress bar")
    from mdl.compress.quantize import PRIORS
    from mdl.search import FAMILIES
    from mdl.search.model_compression import COMPRESSORS
    from mdl.search.study import SAMPLERS

    compress_model = commands.add_parser(
        "compress-model",
        help="search a model family's training settings by two-part code and write the winner",
        description="Train the family on the data set's training split once per configuration "
        "of the search space (beta, epochs, learning rate, weight prior; Optuna's TPE "
        "proposes, or --sampler), score each by its two-part code (structure + model file + "
        "labels file) plus the configuration's codeword, write the shortest one's file to "
        "OUT/model.mdl, and print its size, compression ratio, errors (the test set read once, "
        "after the search) and Occam bound. Trials live in OUT/search.journal: a rerun resumes.",
    )
    compress_model.add_argument("--model", required=True, choices=sorted(FAMILIES))
    compress_model.add_argument("--data", required=True, choices=sorted(LOADERS))
    compress_model.add_argument("--trials", type=int, default=20, help="configurations at most")
    compress_model.add_argument(
        "--budget-minutes", type=float, help="propose no new configuration after this long"
    )
    compress_model.add_argument("--seed", type=int, default=0)
    compress_model.add_argument(
        "--max-error",
        type=float,
        help="instead: the smallest file whose error on a 10%% validation split of the "
        "training data is at most this (e.g. 0.016)",
    )
    compress_model.add_argument(
        "--shifts",
        help="also search random shifts of the training images, in pixels: a comma-separated "
        "list such as 0,1,2 (image data only)",
    )
    compress_model.add_argument(
        "--widths",
        nargs="+",
        help="also search the hidden widths of a fully connected family (removing neurons; "
        "the ratio stays against the full family): e.g. 300,100 100,50",
    )
    compress_model.add_argument(
        "--compressors",
        nargs="+",
        choices=list(COMPRESSORS),
        help="also search the compressor (default: quantizer; one name fixes it, charged 0 "
        "bits). live_block codes each kernel's dead input and output units as flags",
    )
    compress_model.add_argument(
        "--beta",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="search beta (the weight of the model's bits) in [LOW, HIGH], at log-spaced "
        "points (default 0.03 3)",
    )
    compress_model.add_argument(
        "--beta-bits", type=int, help="2**B points of the beta range, B bits to name one (4)"
    )
    compress_model.add_argument(
        "--epochs", type=int, help="fix the training epochs (default: search 5, 10, 20, 40)"
    )
    compress_model.add_argument(
        "--learning-rate",
        type=float,
        help="fix Adam's step size (default: search 8 log-spaced points in [3e-4, 3e-3])",
    )
    compress_model.add_argument(
        "--prior",
        choices=PRIORS,
        help="fix the weight prior (default: search spike_laplace and laplace)",
    )
    compress_model.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="tpe",
        help="how configurations are proposed (Optuna's TPE by default); bisect, with "
        "--max-error and every setting but beta fixed, finds the largest beta on target in "
        "at most B + 1 trials",
    )
    compress_model.add_argument(
        "--out", type=Path, default=Path("results/compress-model"), help="results folder"
    )
    compress_model.add_argument(
        "--smoke", action="store_true", help="two one-epoch trials (for checks)"
    )
    compress_model.add_argument("--no-progress", action="store_true", help="no progress bar")
    decompress = commands.add_parser(
        "decompress", help="restore a file from `mdl compress`'s archive"
    )
    decompress.add_argument("input", type=Path, help="archive written by `mdl compress`")
    decompress.add_argument("output", type=Path, help="file to write")
    decompress.add_argument("--force", action="store_true", help="overwrite OUTPUT")
    decompress.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _progress_bar(total: int, enabled: bool, desc: str):
    """A tqdm bar in characters with the running bits per character, and its update hook."""
    from tqdm import tqdm

    bar = tqdm(total=total, disable=not enabled, desc=desc, unit="char", unit_scale=True)

    def update(done: int, bits: float) -> None:
        bar.update(done - bar.n)
        if bits:
            bar.set_postfix(bpc=f"{bits / max(done, 1):.3f}")

    return bar, update


def _text_paths(args) -> bytes:
    if not args.input.is_file():
        raise UsageError(f"input {args.input} is not a file")
    if args.output.exists() and not args.force:
        raise UsageError(f"output {args.output} exists; pass --force to overwrite it")
    if args.output.resolve() == args.input.resolve():
        raise UsageError("input and output are the same file")
    return args.input.read_bytes()


def _compress(args) -> int:
    from mdl.records import write_bytes_atomic
    from mdl.textcode import TextCodeSettings, compress_text

    data = _text_paths(args)
    if not data:
        raise UsageError(f"input {args.input} is empty; there is nothing to compress")
    chosen = {
        "hidden": args.hidden,
        "streams": args.streams,
        "window": args.window,
        "learning_rate": args.learning_rate,
        "epochs": args.epochs,
        "beta": args.beta,
    }
    try:
        settings = TextCodeSettings(
            method=args.method, **{k: v for k, v in chosen.items() if v is not None}
        )
    except ValueError as error:
        raise UsageError(error) from error
    bar, update = _progress_bar(len(data), not args.no_progress, f"compress ({args.method})")
    start = time.perf_counter()
    archive = compress_text(data, settings, progress=update, log=bar.write)
    bar.close()
    write_bytes_atomic(args.output, archive)
    seconds = time.perf_counter() - start
    print(
        f"{args.input}: {len(data):,} bytes -> {args.output}: {len(archive):,} bytes, "
        f"{8 * len(archive) / len(data):.3f} bits per byte, {len(data) / seconds:,.0f} bytes/s"
    )
    return 0


def _decompress(args) -> int:
    from mdl.codec.errors import CodecError
    from mdl.records import write_bytes_atomic
    from mdl.textcode import decompress_text, read_header

    archive = _text_paths(args)
    try:
        total = read_header(archive)["length"]
        bar, update = _progress_bar(total, not args.no_progress, "decompress")
        data = decompress_text(archive, progress=update)
        bar.close()
    except (CodecError, ValueError) as error:
        raise UsageError(f"{args.input}: {error}") from error
    write_bytes_atomic(args.output, data)
    print(f"{args.input} -> {args.output}: {len(data):,} bytes")
    return 0


def report_table(records: list[dict]) -> str:
    """Per value of the swept axes, means over seeds: model bits (the two-part model code:
    structure + file), train and test error, gap, sparsity, Occam bound, total description
    length; ``*`` marks the MDL choice (the smallest total)."""
    if not records:
        return "(no records)"
    axes = [
        a
        for a in ("width", "train_size", "label_noise", "beta")
        if len({r.get(a) for r in records}) > 1
    ] or ["beta"]
    model_key = (
        "model_code_bits" if all("model_code_bits" in r for r in records) else "model_file_bits"
    )
    groups: dict[tuple, list[dict]] = {}
    for record in sorted(records, key=lambda r: tuple(float(r[a]) for a in axes)):
        groups.setdefault(tuple(record[a] for a in axes), []).append(record)

    def mean(rows, key):
        values = [r.get(key) for r in rows]
        return None if any(v is None for v in values) else float(np.mean(values))

    columns = {
        "model bits": lambda rows: mean(rows, model_key),
        "train err": lambda rows: mean(rows, "train_error"),
        "test err": lambda rows: mean(rows, "test_error"),
        "gap": lambda rows: mean(rows, "gap"),
        "sparsity": lambda rows: mean(rows, "sparsity"),
        "bound": lambda rows: mean(rows, "error_bound"),
        "total bits": lambda rows: float(
            np.mean([float(r[model_key]) + float(r["train_data_bits"]) for r in rows])
        ),
    }
    table = [
        (values, len(rows), {n: f(rows) for n, f in columns.items()})
        for values, rows in groups.items()
    ]
    best = int(np.argmin([cells["total bits"] for _, _, cells in table]))
    header = "  " + " ".join(f"{a:>11}" for a in axes) + f" {'seeds':>5} "
    header += " ".join(f"{name:>10}" for name in columns)
    lines = [header]
    for i, (values, count, cells) in enumerate(table):
        text = []
        for name, value in cells.items():
            if value is None:
                text.append(f"{'-':>10}")
            else:
                text.append(f"{value:>10.0f}" if "bits" in name else f"{value:>10.4f}")
        mark = "*" if i == best else " "
        keys = " ".join(f"{v:>11g}" for v in values)
        lines.append(f"{mark} {keys} {count:>5d} " + " ".join(text))
    lines.append("* the MDL choice: smallest total (model code bits + train data bits)")
    return "\n".join(lines)


def write_sweep_summary(
    out: Path, records: list[dict], wall_seconds: float, argv: list[str]
) -> Path:
    """``out/summary.json``: how the folder's records were made (command, commit, versions,
    machine, this invocation's wall time: a resumed run counts only its own part) and the
    MDL choice, the point with the smallest two-part total."""
    from mdl.records import write_json_atomic
    from mdl.sweep.folder import provenance

    best = min(records, key=lambda r: r["total_bits"])
    summary = {
        "points": len(records),
        "mdl_choice": {
            k: best.get(k)
            for k in ("point", "total_bits", "model_code_bits", "train_data_bits", "test_error")
        },
        "total_bits": {r["point"]: r["total_bits"] for r in records},
        "provenance": provenance(shlex.join(["mdl", *argv]), wall_seconds),
    }
    return write_json_atomic(out / "summary.json", summary)


def _shifts(text: str | None) -> tuple[int, ...]:
    """``--shifts 0,1,2`` -> (0, 1, 2); None -> (); anything else is a UsageError."""
    if text is None:
        return ()
    try:
        shifts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--shifts must be integers such as 0,1,2; got {text!r}") from None
    if min(shifts) < 0 or len(set(shifts)) != len(shifts):
        raise UsageError(f"--shifts must be distinct integers >= 0; got {text!r}")
    return shifts


def _fixed_settings(args, dimensions: dict) -> dict:
    """The dimensions ``--beta``/``--beta-bits`` (a log-spaced `Real`) and ``--epochs``,
    ``--learning-rate``, ``--prior`` (one value each: named in 0 bits) to put in place of the
    space's own ``dimensions`` (name -> dimension; both base spaces search beta)."""
    from mdl.search import Choice, Real

    settings = {}
    if args.beta is not None or args.beta_bits is not None:
        own = dimensions["beta"]
        low, high = args.beta if args.beta is not None else (own.low, own.high)
        bits = args.beta_bits if args.beta_bits is not None else own.precision
        if not 0 < low < high < float("inf"):
            raise UsageError(f"--beta needs 0 < LOW < HIGH, finite; got {low:g} {high:g}")
        if not 1 <= bits <= 16:
            raise UsageError(f"--beta-bits must be in [1, 16]; got {bits}")
        settings["beta"] = Real("beta", low, high, precision=bits, log=True)
    if args.epochs is not None:
        if args.epochs < 1:
            raise UsageError(f"--epochs must be >= 1; got {args.epochs}")
        settings["epochs"] = Choice("epochs", (args.epochs,))
    if args.learning_rate is not None:
        if not 0 < args.learning_rate < float("inf"):
            raise UsageError(f"--learning-rate must be > 0; got {args.learning_rate:g}")
        settings["learning_rate"] = Choice("learning_rate", (args.learning_rate,))
    if args.prior is not None:
        settings["prior"] = Choice("prior", (args.prior,))
    return settings


def _search_space(args):
    """The space ``compress-model``'s options describe: the default space (``--smoke``: the
    smoke space) with the settings of `_fixed_settings` in place of its own, then the searched
    ``--shifts``, ``--widths`` and ``--compressors``; None when no option changes the default
    (`compress_model` then uses it)."""
    from mdl.search import Choice, SearchSpace, default_space, smoke_space

    shifts = _shifts(args.shifts)
    for flag, names in (("--widths", args.widths), ("--compressors", args.compressors)):
        if names and len(set(names)) != len(names):
            raise UsageError(f"{flag} must be distinct; got {' '.join(names)}")
    base = smoke_space() if args.smoke else default_space()
    dimensions = {dim.name: dim for dim in base.dimensions}
    added = [Choice("augment", shifts)] if shifts else []
    added += [Choice("widths", tuple(args.widths))] if args.widths else []
    added += [Choice("compressor", tuple(args.compressors))] if args.compressors else []
    settings = _fixed_settings(args, dimensions)
    if not (args.smoke or added or settings):
        return None
    return SearchSpace(list({**dimensions, **settings}.values()) + added)


def _compress_model(args) -> int:
    from mdl.data import load
    from mdl.search import compress_model

    if args.trials < 1:
        raise UsageError(f"--trials must be >= 1; got {args.trials}")
    if args.budget_minutes is not None and args.budget_minutes <= 0:
        raise UsageError(f"--budget-minutes must be > 0; got {args.budget_minutes}")
    space = _search_space(args)
    trials = 2 if args.smoke else args.trials
    data = load(args.data)
    budget = None if args.budget_minutes is None else 60 * args.budget_minutes
    try:
        summary = compress_model(
            args.model,
            data,
            out=args.out,
            trials=trials,
            budget_seconds=budget,
            space=space,
            seed=args.seed,
            max_error=args.max_error,
            sampler=args.sampler,
            progress=not args.no_progress,
        )
    except ValueError as error:
        raise UsageError(error) from error
    if args.max_error is not None:
        met = "met" if summary["feasible"] else "NOT met by any configuration; nearest shown"
        print(
            f"target: validation error <= {args.max_error:.2%}: {met} "
            f"(validation error {summary['validation_error']:.2%})"
        )
    print(
        f"{args.model} on {args.data}: {summary['file_bytes']:,} bytes "
        f"({summary['ratio']:.1f}x float32), train error {summary['train_error']:.2%}, "
        f"test error {summary['test_error']:.2%}, Occam bound {summary['error_bound']:.2%}; "
        f"two-part code {summary['two_part_bits']:,.0f} + search {summary['search_bits']:.1f} "
        f"bits; {len(summary['trials'])} configurations, {summary['seconds']:.0f} s"
    )
    print(f"model: {args.out / 'model.mdl'}")
    print(f"figure: {args.out / 'pareto.png'}")
    return 0


def _sweep(args) -> int:
    from mdl.plots import plot_results
    from mdl.sweep import ConfigMismatchError, SetupError, SweepConfig, run

    overrides = {}
    if args.data:
        overrides["data"] = args.data
    if args.betas:
        overrides["betas"] = args.betas
    if args.seeds:
        overrides["seeds"] = args.seeds
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.model:
        overrides["model"] = {"name": args.model}
    for name in ("label_noise", "train_sizes", "widths"):
        if getattr(args, name):
            overrides[name] = getattr(args, name)
    if args.config and args.smoke:
        raise UsageError("--smoke and --config exclude each other; pick one")
    try:
        if args.config:
            config = SweepConfig.from_toml(args.config, **overrides)
        elif args.smoke:
            config = SweepConfig.smoke(**overrides)
        else:
            config = SweepConfig(**overrides)
    except (ValueError, TypeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(error) from error
    start = time.perf_counter()
    try:
        records = run(config, args.out, progress=not args.no_progress)
    except (SetupError, ConfigMismatchError) as error:
        raise UsageError(error) from error
    write_sweep_summary(args.out, records, time.perf_counter() - start, args.argv)
    paths = plot_results(args.out)
    print(report_table(records))
    print(f"records: {args.out / 'records.jsonl'}")
    print(f"figure: {paths[0]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in a sweep's summary.json
    try:
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "compress":
            return _compress(args)
        if args.command == "decompress":
            return _decompress(args)
        if args.command == "compress-model":
            return _compress_model(args)
        from mdl.records import read_records

        if not (args.results / "records.jsonl").exists():
            raise UsageError(f"{args.results} holds no records.jsonl; run `mdl sweep` first")
        if args.command == "plot":
            from mdl.plots import plot_results

            for path in plot_results(args.results):
                print(path)
        else:
            print(report_table(read_records(args.results)))
        return 0
    except (UsageError, FileNotFoundError) as error:
        # Bad options, configs and refused folders: the message, not a traceback (exit status
        # 2, as argparse uses for usage errors). Errors during training keep their traceback.
        parser.exit(2, f"mdl {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
