"""What every experiment shares: its command line and the provenance of its ``summary.json``.

Each experiment is ``python -m experiments.NAME [--smoke] [--out DIR] [...]``; ``--smoke`` runs
a size the test suite affords, ``--out`` (default ``results/NAME``) receives ``summary.json``,
whose ``provenance`` says what made it: the command, the git commit, the library versions, the
machine and the wall time. A summary without it cannot be traced, so :func:`write_summary` is
the only way experiments write one.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path


def experiment_parser(doc: str, name: str, *, smoke: str, data_root: bool = False):
    """The parser every experiment starts from: ``--smoke`` (what it shrinks to: ``smoke``),
    ``--out`` (default ``results/NAME``) and, for MNIST experiments, ``--data-root``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=smoke)
    parser.add_argument("--out", type=Path, default=Path("results") / name, help="results folder")
    if data_root:
        parser.add_argument(
            "--data-root", default=None, help="MNIST folder (default: $MDL_DATA/mnist)"
        )
    return parser


def smoke_subset(data, train: int = 2_000, test: int = 1_000):
    """``data`` cut to its first ``train`` training and ``test`` test examples: the size a
    ``--smoke`` run of an MNIST experiment affords."""
    from dataclasses import replace

    return replace(
        data,
        x_train=data.x_train[:train],
        y_train=data.y_train[:train],
        x_test=data.x_test[:test],
        y_test=data.y_test[:test],
    )


def _command() -> str:
    """How this process was started: ``python -m experiments.NAME ...`` for an experiment."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.suffix == ".py" and script.parent.name == "experiments":
        # The module invocation is three words, not one quoted argument.
        return " ".join([f"python -m experiments.{script.stem}", shlex.join(sys.argv[1:])]).strip()
    return shlex.join(sys.argv)


def provenance(start: float) -> dict:
    """Command, git commit, versions, machine and wall time (since ``start``, a
    ``time.perf_counter()`` reading) of the running experiment."""
    from mdl.sweep import folder

    return folder.provenance(_command(), time.perf_counter() - start)


def write_summary(out: Path, summary: dict, start: float) -> Path:
    """Set ``summary["provenance"]`` and write ``summary`` atomically to
    ``out/summary.json`` (the caller returns the same dict it wrote)."""
    from mdl.records import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    summary["provenance"] = provenance(start)
    return write_json_atomic(out / "summary.json", summary)
