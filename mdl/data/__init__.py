"""Data sets that load offline, as numpy arrays: ``mdl.data.load(name, **options)``."""

from __future__ import annotations

from collections.abc import Callable

from mdl.data.dataset import Dataset
from mdl.data.digits import load_digits

LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
}


def load(name: str, **options) -> Dataset:
    """Load data set ``name`` (see ``LOADERS`` for the names) with loader-specific options."""
    loader = LOADERS.get(name)
    if loader is None:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(LOADERS))}")
    return loader(**options)


__all__ = ["LOADERS", "Dataset", "load", "load_digits"]
