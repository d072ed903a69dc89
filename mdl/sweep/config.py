"""What a sweep trains: `SweepConfig`, plain data a TOML file or the CLI can hold.

A config names a reference model (`mdl.models.catalog`) or takes a builder function from
Python, a compressor chain (``[{"name": "hard_concrete", "structured": true}, {"name":
"quantizer"}]``), a data set, its data code (`mdl.codes.data_codes`), and the sweep's
axes: ``betas`` x ``seeds`` x ``label_noise`` x ``train_sizes`` x ``widths``. Points that
share a width and a training-set size share shapes and run as one vmapped, sharded program;
every other axis varies inside it. Everything is checked here, before any data is loaded or
any model trained.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import tomllib
from collections.abc import Callable, Sequence

from mdl.codes.data_codes import data_code as build_data_code
from mdl.compress import (
    chain,
    float32_baseline,
    hard_concrete,
    kmeans,
    learned_bit_width,
    magnitude,
    quantizer,
    sparse_variational_dropout,
)
from mdl.compress.base import Compressor
from mdl.data import LOADERS
from mdl.models.catalog import check_model_spec

COMPRESSORS: dict[str, Callable[..., Compressor]] = {
    "quantizer": quantizer,
    "hard_concrete": hard_concrete,
    "magnitude": magnitude,
    "sparse_variational_dropout": sparse_variational_dropout,
    "learned_bit_width": learned_bit_width,
    "kmeans": kmeans,
    "float32": float32_baseline,
}
"""The compressor registry: the ``name`` a config's compressor entry uses -> its builder."""


class SetupError(ValueError):
    """A sweep that cannot start: its config does not fit its data, model or compressor.
    Raised before any training (and before a results folder is written)."""


AXES = ("width", "train_size", "label_noise", "beta", "seed")  # point order: first = outermost
"""The axes a sweep varies, in point order (the first is the outermost loop)."""


def _compressor_specs(value) -> tuple[dict, ...]:
    if isinstance(value, dict | str):
        value = [value]
    specs = []
    for item in value:
        spec = {"name": item} if isinstance(item, str) else dict(item)
        name = spec.get("name")
        if name not in COMPRESSORS:
            raise ValueError(
                f"unknown compressor {name!r}; known: {', '.join(sorted(COMPRESSORS))}"
            )
        options = {k: v for k, v in spec.items() if k != "name"}
        accepted = inspect.signature(COMPRESSORS[name]).parameters
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(
                f"compressor {name!r} takes no option(s) {unknown}; its options: {sorted(accepted)}"
            )
        specs.append(spec)
    if not specs:
        raise ValueError("compressor is empty; give at least one (e.g. [{name = 'quantizer'}])")
    return tuple(specs)


def build_compressor(specs: Sequence[dict]) -> Compressor:
    """The compressor (a chain when several) that ``specs`` name."""
    members = []
    for spec in specs:
        options = {
            k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k != "name"
        }
        members.append(COMPRESSORS[spec["name"]](**options))
    return members[0] if len(members) == 1 else chain(*members)


def _number_tuple(name: str, value, kind, *, allow_none: bool = False) -> tuple:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list of {kind.__name__}s; got {value!r}")
    out = tuple(None if (allow_none and v is None) else kind(v) for v in value)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat; got {list(out)}")
    return out


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    r"""What a sweep trains. Every field but a builder function is plain data (TOML and JSON).

    Each point minimizes $L_{\text{data}} + \beta L_{\text{model}}$, both in bits (the data
    code's bits of the training targets and the compressor's ``bits``); $\beta = 1$ is the
    two-part code length. Construction checks every field and raises ValueError.

    Attributes:
      data: a data set name from ``mdl.data.LOADERS`` (``"digits"`` is built in).
      data_options: keyword options for the loader (e.g. ``{"root": "..."}`` for MNIST).
      max_train: use only the first ``max_train`` training examples (None: all).
      data_code: how targets are coded (``"categorical"``, ``"next_token"``,
        ``{"name": "discretized_gaussian", "bin_width": 0.01}``, ...); None picks categorical
        for labels and next-token for integer sequences.
      model: a reference architecture, ``{"name": "ConvNet", "channels": [8, 16]}`` (see
        `mdl.models.catalog`), or a Python function ``(data, seed, width) -> nnx.Module``
        (such a config runs but cannot be written to TOML; the manifest records its name).
      compressor: the chain, each ``{"name": ..., **options}`` (names in ``COMPRESSORS``).
      betas: the trade-off grid (weights on model bits); at least one, each >= 0.
      seeds: the seeds per point; at least one.
      label_noise: fractions of training labels replaced by uniformly drawn ones (Zhang et al.
        2017's randomization test); each in [0, 1]; categorical data codes only.
      train_sizes: training-set sizes (the first n examples); empty: all.
      widths: model widths (see `mdl.models.catalog.reference_model`); empty: the
        model's own.
      epochs, batch_size, learning_rate: Adam on minibatches, for every point.
      warmup_fraction: beta ramps from 0 over this fraction of the steps.
      delta: confidence of the Occam bound stored in each record.
      points_per_chunk: points trained at once (0: as many as fit in memory, or one per
        device for convolutional models on CPU, where vmapped convolutions are slower).
      scan: one ``lax.scan`` per epoch (True) or a loop of vmapped steps (False); None picks
        the loop for convolutional models on CPU, where XLA's while loop slows convolutions.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (two-part
      codes); J. Langford, "Tutorial on practical prediction theory for classification",
      JMLR, 2005 (the Occam bound of each record).
    """

    data: str = "digits"
    data_options: dict = dataclasses.field(default_factory=dict)
    max_train: int | None = None
    data_code: str | dict | None = None
    model: dict | Callable = dataclasses.field(
        default_factory=lambda: {"name": "MLP", "hidden": [8]}
    )
    compressor: tuple = ({"name": "quantizer", "select": ".*", "prior": "spike_laplace"},)
    betas: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    label_noise: tuple[float, ...] = (0.0,)
    train_sizes: tuple[int, ...] = ()
    widths: tuple[int, ...] = ()
    epochs: int = 150
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_fraction: float = 0.3
    delta: float = 0.05
    points_per_chunk: int = 0
    scan: bool | None = None

    def __post_init__(self):
        # Normalize sequences to tuples (TOML and JSON give lists) before validating.
        set_ = object.__setattr__
        set_(self, "betas", _number_tuple("betas", self.betas, float))
        set_(self, "seeds", _number_tuple("seeds", self.seeds, int))
        set_(self, "label_noise", _number_tuple("label_noise", self.label_noise, float))
        set_(self, "train_sizes", _number_tuple("train_sizes", self.train_sizes, int))
        set_(self, "widths", _number_tuple("widths", self.widths, int))
        set_(self, "data_options", dict(self.data_options))
        set_(self, "compressor", _compressor_specs(self.compressor))
        build_compressor(self.compressor)  # the compressors' own argument checks, now
        if not callable(self.model):
            set_(self, "model", check_model_spec(self.model))
        if self.data not in LOADERS:
            raise ValueError(f"unknown data set {self.data!r}; known: {', '.join(sorted(LOADERS))}")
        if self.data_code is not None:
            build_data_code(self.data_code)  # unknown names and options fail here
        if not self.betas:
            raise ValueError("betas is empty; give at least one trade-off weight")
        if not all(math.isfinite(b) and b >= 0 for b in self.betas):
            raise ValueError(f"betas must be finite and >= 0; got {list(self.betas)}")
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one seed")
        if not self.label_noise or not all(0 <= f <= 1 for f in self.label_noise):
            raise ValueError(f"label_noise fractions must lie in [0, 1]; got {self.label_noise}")
        if any(n < 1 for n in self.train_sizes):
            raise ValueError(f"train_sizes must be >= 1; got {list(self.train_sizes)}")
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be >= 1; got {list(self.widths)}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.max_train is not None and self.max_train < 1:
            raise ValueError(f"max_train must be >= 1 or None; got {self.max_train}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}")
        if not 0 <= self.warmup_fraction <= 1:
            raise ValueError(f"warmup_fraction must be in [0, 1]; got {self.warmup_fraction}")
        if not 0 < self.delta < 1:
            raise ValueError(f"delta must be in (0, 1); got {self.delta}")
        if self.points_per_chunk < 0:
            raise ValueError(f"points_per_chunk must be >= 0; got {self.points_per_chunk}")
        if self.batch_size > min(self.train_sizes, default=self.batch_size):
            raise ValueError(
                f"batch_size {self.batch_size} exceeds the smallest training-set size "
                f"{min(self.train_sizes)}"
            )

    @classmethod
    def smoke(cls, **overrides) -> SweepConfig:
        """A sweep that runs in seconds (for tests and ``mdl sweep --smoke``)."""
        settings = dict(
            model={"name": "MLP", "hidden": [16]},
            betas=(0.01, 1.0),
            seeds=(0, 1),
            epochs=2,
            batch_size=128,
        )
        return cls(**(settings | overrides))

    @classmethod
    def from_toml(cls, path: str | os.PathLike, **overrides) -> SweepConfig:
        """Read a config from TOML: the fields at top level or in a ``[sweep]`` table."""
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
        table = table.get("sweep", table)
        return cls.from_dict(table | overrides, source=str(path))

    @classmethod
    def from_dict(cls, table: dict, source: str = "config") -> SweepConfig:
        """A config from a dict of its fields (TOML or JSON); unknown keys are refused, named
        with ``source``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown option(s) {unknown}; known options: {sorted(known)}"
            )
        return cls(**table)

    def to_dict(self) -> dict:
        """JSON-ready fields (a builder function is recorded by its qualified name)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "model" and callable(value):
                value = {"builder": f"{value.__module__}.{value.__qualname__}"}
            elif f.name == "compressor":
                value = [dict(spec) for spec in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def points(self) -> list[dict]:
        """The grid as dicts of axis values, ``AXES`` order (width outermost, seed innermost);
        ``width`` and ``train_size`` are None where the axis is not swept."""
        widths = self.widths or (None,)
        sizes = self.train_sizes or (None,)
        return [
            {"width": w, "train_size": n, "label_noise": f, "beta": b, "seed": s}
            for w in widths
            for n in sizes
            for f in self.label_noise
            for b in self.betas
            for s in self.seeds
        ]


def point_id(point: dict) -> str:
    """``beta=0.1_seed=3``, with ``_noise=0.25``, ``_n=1000``, ``_width=64`` where swept."""
    name = f"beta={point['beta']!r}_seed={point['seed']}"
    if point.get("label_noise"):
        name += f"_noise={point['label_noise']!r}"
    if point.get("train_size") is not None:
        name += f"_n={point['train_size']}"
    if point.get("width") is not None:
        name += f"_width={point['width']}"
    return name
