"""A sweep's results folder: ``manifest.json`` (config, versions, devices, git commit),
``records.jsonl`` (one line per finished point) and ``models/`` (each point's real file).

A folder belongs to one config: a different config is refused with the differing fields named,
so records are never mixed; rerunning the same config resumes it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

import jax
import numpy as np
import optax

from mdl.records import read_records
from mdl.sweep.config import SweepConfig, point_id


class ConfigMismatchError(ValueError):
    """The results folder was written by a sweep with a different configuration."""


def git_commit() -> str | None:
    """The commit of the checkout mdl runs from (None outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict:
    """The versions a result depends on: mdl, jax, flax, optax, numpy, Python."""
    import flax

    import mdl

    return {
        "mdl": mdl.__version__,
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def machine() -> dict:
    """Where a result was computed: OS, CPU count and jax's devices."""
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "devices": [str(d) for d in jax.devices()],
    }


def provenance(command: str, wall_seconds: float) -> dict:
    """How a result was made: the command, git commit, versions, machine and wall time (what
    every ``summary.json``, of a sweep or an experiment, records)."""
    return {
        "command": command,
        "git_commit": git_commit(),
        "versions": versions(),
        "machine": machine(),
        "wall_seconds": wall_seconds,
    }


def manifest(config: SweepConfig) -> dict:
    """The ``manifest.json`` of a results folder: the config, package versions, devices and
    git commit, so a folder is refused to any other config."""
    return {
        "config": config.to_dict(),
        "versions": versions(),
        "devices": [str(d) for d in jax.devices()],
        "processes": jax.process_count(),
        "platform": jax.default_backend(),
        "git_commit": git_commit(),
        "points": [point_id(p) for p in config.points()],
    }


def check_folder(out: Path, config: SweepConfig) -> None:
    """Refuse a folder written by another config (its manifest differs) or by no sweep."""
    path = out / "manifest.json"
    if path.exists():
        try:
            previous = json.loads(path.read_text())["config"]
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigMismatchError(f"{path} is not a sweep manifest ({error})") from None
        current = json.loads(json.dumps(config.to_dict()))
        if previous != current:
            differing = sorted(
                k for k in set(previous) | set(current) if previous.get(k) != current.get(k)
            )
            details = "; ".join(
                f"{k}: folder has {previous.get(k)!r}, config has {current.get(k)!r}"
                for k in differing
            )
            raise ConfigMismatchError(
                f"{out} holds results of a different sweep config ({details}); mixing them would "
                "make the records incomparable. Use another --out folder or the same config."
            )
        return
    if (out / "records.jsonl").exists():
        raise ConfigMismatchError(f"{out} has records.jsonl but no manifest.json; refusing to mix")


def ordered_records(out: Path, points: list[dict]) -> list[dict]:
    """The folder's records in the config's point order (unfinished points left out)."""
    by_point = {r.get("point"): r for r in read_records(out / "records.jsonl")}
    return [by_point[point_id(p)] for p in points if point_id(p) in by_point]


def load_config(out: str | os.PathLike) -> SweepConfig:
    """The config a results folder was written with (from its manifest)."""
    path = Path(out) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{out} is not a sweep results folder (no manifest.json)")
    table = json.loads(path.read_text())["config"]
    if isinstance(table.get("model"), dict) and "builder" in table["model"]:
        raise ValueError(
            f"{path}: the sweep used the Python model builder {table['model']['builder']}; "
            "rebuild its SweepConfig in Python with that function"
        )
    return SweepConfig.from_dict(table, source=str(path))
