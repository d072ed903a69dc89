"""Compression-versus-generalization sweeps: many trainings as one compiled program.

A sweep trains one model per point ``(beta, seed)`` of a grid, where ``beta`` weighs the model
bits in the objective ``data bits + beta x model bits`` (``beta = 1`` is the two-part code
length; see :mod:`mdl.train`). All points share shapes, so their parameters, compressor states
and optimizer states are stacked along a leading *points* axis and one ``jax.vmap``-ed,
``jax.jit``-ed epoch trains them all. The points axis is sharded over every available device
(a one-axis ``Mesh`` and ``NamedSharding``); when the points do not fit in memory at once they
run in chunks of ``points_per_chunk``.

A point's randomness comes from its seed alone (initialization, batch order, noise), so points
that share a seed differ only in beta (common random numbers), and a point gives the same
record whatever chunk, device count or rerun it lands in.

Each finished point is appended to ``DIR/records.jsonl`` (one atomic line; see
:mod:`mdl.records`) with its real model file in ``DIR/models/``; ``DIR/manifest.json`` holds the
config, versions, devices and git commit. Rerunning with the same config resumes: finished
points are skipped. A folder written by a different config is refused.

Multi-host: call ``jax.distributed.initialize()`` on every host before :func:`run`; the mesh
then spans ``jax.devices()`` of all hosts, every host runs the same program, and only process 0
writes records and files.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import platform
import subprocess
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from mdl.bounds import grid_search_bits, occam_bound
from mdl.codec.model import QuantizedLeaf, RawLeaf, encode_model
from mdl.codes.data import categorical_bits
from mdl.compress.files import split_params
from mdl.compress.quantize import PRIORS, quantizer
from mdl.data import LOADERS, load
from mdl.data.batches import batches
from mdl.models import MLP, describe
from mdl.records import append_record, read_records, write_bytes_atomic, write_json_atomic
from mdl.train import make_train_step

RECORD_KEYS = (
    "beta",
    "seed",
    "model_bits",
    "model_file_bits",
    "train_data_bits",
    "test_data_bits",
    "train_error",
    "test_error",
    "train_loss",
    "test_loss",
    "gap",
    "sparsity",
    "bits_per_kept_weight",
    "error_bound",
    "bound_code_bits",
    "wall_seconds",
)


class ConfigMismatchError(ValueError):
    """The results folder was written by a sweep with a different configuration."""


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """What a sweep trains. Every field is plain data (TOML- and JSON-representable).

    Attributes:
      data: a data set name from ``mdl.data.LOADERS`` (``"digits"`` is built in).
      data_options: keyword options for the loader (e.g. ``{"root": "..."}`` for MNIST).
      max_train: use only the first ``max_train`` training examples (None: all).
      hidden: hidden layer widths of the MLP ``input -> *hidden -> classes``.
      betas: the trade-off grid (weights on model bits); at least one, each >= 0.
      seeds: the seeds per beta; at least one.
      epochs, batch_size, learning_rate: Adam on minibatches, for every point.
      warmup_fraction: beta ramps from 0 over this fraction of the steps.
      prior: the quantizer's learned prior (``mdl.compress.quantize.PRIORS``).
      select: regular expression of the parameter paths to quantize (default: all, biases
        too); the others are kept at float32 and charged 32 bits each.
      delta: confidence of the Occam bound stored in each record.
      points_per_chunk: points trained at once (0: as many as fit in memory).
    """

    data: str = "digits"
    data_options: dict = dataclasses.field(default_factory=dict)
    max_train: int | None = None
    hidden: tuple[int, ...] = (32,)
    betas: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_fraction: float = 0.3
    prior: str = "spike_laplace"
    select: str = ".*"
    delta: float = 0.05
    points_per_chunk: int = 0

    def __post_init__(self):
        # Normalize sequences to tuples (TOML and JSON give lists) before validating.
        for name, kind in (("hidden", int), ("betas", float), ("seeds", int)):
            value = getattr(self, name)
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise TypeError(f"{name} must be a list of {kind.__name__}s; got {value!r}")
            object.__setattr__(self, name, tuple(kind(v) for v in value))
        object.__setattr__(self, "data_options", dict(self.data_options))
        if self.data not in LOADERS:
            raise ValueError(f"unknown data set {self.data!r}; known: {', '.join(sorted(LOADERS))}")
        if not self.betas:
            raise ValueError("betas is empty; give at least one trade-off weight")
        if not all(math.isfinite(b) and b >= 0 for b in self.betas):
            raise ValueError(f"betas must be finite and >= 0; got {self.betas}")
        if len(set(self.betas)) != len(self.betas) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"betas and seeds must not repeat; got {self.betas}, {self.seeds}")
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one seed")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be >= 1; got {self.hidden}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.max_train is not None and self.max_train < 1:
            raise ValueError(f"max_train must be >= 1 or None; got {self.max_train}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; got {self.learning_rate}")
        if not 0 <= self.warmup_fraction <= 1:
            raise ValueError(f"warmup_fraction must be in [0, 1]; got {self.warmup_fraction}")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}; got {self.prior!r}")
        if not 0 < self.delta < 1:
            raise ValueError(f"delta must be in (0, 1); got {self.delta}")
        if self.points_per_chunk < 0:
            raise ValueError(f"points_per_chunk must be >= 0; got {self.points_per_chunk}")

    @classmethod
    def smoke(cls, **overrides) -> SweepConfig:
        """A sweep that runs in seconds (for tests and ``mdl sweep --smoke``)."""
        settings = dict(hidden=(16,), betas=(0.01, 1.0), seeds=(0, 1), epochs=2, batch_size=128)
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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown option(s) {unknown}; known options: {sorted(known)}"
            )
        return cls(**table)

    def to_dict(self) -> dict:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }

    def points(self) -> list[tuple[float, int]]:
        """The grid, beta-major: ``[(beta, seed), ...]``."""
        return [(beta, seed) for beta in self.betas for seed in self.seeds]


def point_id(beta: float, seed: int) -> str:
    return f"beta={beta!r}_seed={seed}"


# --- The compiled program -------------------------------------------------------------------


def _model_and_compressor(config: SweepConfig, data, seed: int):
    sizes = [int(np.prod(data.input_shape)), *config.hidden, data.num_classes]
    model = MLP(sizes, rngs=nnx.Rngs(seed))
    compressor = quantizer(config.select, prior=config.prior)
    graphdef, params = split_params(model)
    return model, graphdef, params, compressor


def _stack(trees):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _unstack(tree, index: int):
    return jax.tree.map(lambda leaf: leaf[index], tree)


@functools.lru_cache(maxsize=8)
def _programs(graphdef, compressor, optimizer, n_train, batch_size, warmup_steps):
    """The vmapped epoch and evaluation (cached per structure: one compilation per sweep)."""
    train_step = make_train_step(graphdef, compressor, optimizer, n_train, warmup_steps)

    def point_epoch(state, beta, key, x, y):
        shuffle_key, noise_key = jax.random.split(key)
        xb, yb = batches(shuffle_key, x, y, batch_size)
        keys = jax.random.split(noise_key, xb.shape[0])

        def body(carry, batch):
            return train_step(carry, batch, beta), None

        state, _ = jax.lax.scan(body, state, (xb, yb, keys))
        return state

    def point_evaluation(trainable, x, y):
        params, cstate = trainable
        weights = compressor.apply(params, cstate, None)
        logits = nnx.merge(graphdef, weights)(x)
        return categorical_bits(logits, y).sum(), (jnp.argmax(logits, -1) != y).sum()

    def point_model_bits(trainable):
        return compressor.bits(*trainable)

    epoch = jax.jit(jax.vmap(point_epoch, in_axes=(0, 0, 0, None, None)))
    evaluation = jax.jit(jax.vmap(point_evaluation, in_axes=(0, None, None)))
    model_bits = jax.jit(jax.vmap(point_model_bits))
    return epoch, evaluation, model_bits


def _evaluate(evaluation, trainable, x, y, chunk: int = 2048):
    """Summed data bits (float64) and error counts per point, over example chunks."""
    bits = 0.0
    wrong = 0
    for start in range(0, len(x), chunk):
        b, e = evaluation(trainable, x[start : start + chunk], y[start : start + chunk])
        bits = bits + np.asarray(b, np.float64)
        wrong = wrong + np.asarray(e, np.int64)
    return bits, wrong


def _bytes_per_point(params, config: SweepConfig, data) -> int:
    """A generous estimate of one point's training memory: parameters, compressor and Adam
    state, gradients, plus the activations of one batch, with room for XLA's temporaries."""
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(params))
    widths = int(np.prod(data.input_shape)) + sum(config.hidden) + data.num_classes
    return 4 * (8 * n_params + 6 * config.batch_size * widths)


def _memory_budget_bytes() -> int:
    """A quarter of the first device's memory (accelerators) or of the host's RAM (CPU)."""
    device = jax.devices()[0]
    try:
        limit = (device.memory_stats() or {}).get("bytes_limit")
    except Exception:  # CPU devices may not report memory statistics
        limit = None
    if not limit:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(limit) // 4


def chunk_size(config: SweepConfig, n_points: int, per_point_bytes: int, n_devices: int) -> int:
    """Points per chunk: the config's, or as many as fit the memory budget on every device; a
    multiple of the device count (so the points axis divides evenly over the mesh)."""
    if config.points_per_chunk:
        size = config.points_per_chunk
    else:
        size = max(1, n_devices * _memory_budget_bytes() // max(per_point_bytes, 1))
        size = min(size, n_points)
    return max(n_devices, -(-size // n_devices) * n_devices)


# --- Results folder -------------------------------------------------------------------------


def _git_commit() -> str | None:
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


def manifest(config: SweepConfig) -> dict:
    import flax

    import mdl

    return {
        "config": config.to_dict(),
        "versions": {
            "mdl": mdl.__version__,
            "jax": jax.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "devices": [str(d) for d in jax.devices()],
        "platform": jax.default_backend(),
        "git_commit": _git_commit(),
        "points": [point_id(b, s) for b, s in config.points()],
    }


def _check_folder(out: Path, config: SweepConfig) -> None:
    """Refuse a folder written by another config (its manifest differs) or by no sweep."""
    path = out / "manifest.json"
    if path.exists():
        try:
            previous = json.loads(path.read_text())["config"]
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigMismatchError(f"{path} is not a sweep manifest ({error})") from None
        current = config.to_dict()
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


# --- The sweep ------------------------------------------------------------------------------


def run(
    config: SweepConfig,
    out: str | os.PathLike,
    *,
    data=None,
    progress: bool = True,
) -> list[dict]:
    """Run (or resume) the sweep ``config`` into folder ``out``; returns all its records.

    ``data`` (a :class:`mdl.data.Dataset`) overrides loading ``config.data`` (for data the
    caller already holds). Each record has the keys of ``RECORD_KEYS`` plus ``point``,
    ``model_file``, ``n_train``, ``n_test``, ``num_params``, ``chunk_wall_seconds``.
    ``error_bound`` is the Occam (kl) bound at ``config.delta`` with the model file's bits plus
    ``log2(number of points)`` (choosing any one point of the grid afterwards stays covered).
    """
    out = Path(out)
    writer = jax.process_index() == 0
    if writer:
        _check_folder(out, config)
    done = {r.get("point") for r in read_records(out)}
    points = config.points()
    if all(point_id(*p) in done for p in points):
        return _ordered_records(out, points)

    if data is None:
        data = load(config.data, **config.data_options)
    if np.ndim(data.y_train) != 1:
        raise ValueError(
            f"data set {config.data!r} has targets of shape {np.shape(data.y_train)[1:]} per "
            "example; sweeps train classifiers, which need one label per example"
        )
    x_train, y_train = data.x_train, data.y_train
    if config.max_train is not None:
        x_train, y_train = x_train[: config.max_train], y_train[: config.max_train]
    n_train, n_test = len(x_train), len(data.x_test)
    if config.batch_size > n_train:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {n_train} training examples")
    # The manifest is written once the data has loaded and passed its checks, so a failed
    # start leaves no folder that a corrected config would then be refused.
    if writer and not (out / "manifest.json").exists():
        write_json_atomic(out / "manifest.json", manifest(config))

    devices = jax.devices()
    mesh = Mesh(np.array(devices), ("points",))
    by_point = NamedSharding(mesh, PartitionSpec("points"))
    replicated = NamedSharding(mesh, PartitionSpec())
    to_device = functools.partial(jax.device_put, device=replicated)
    x_train, y_train = to_device(jnp.asarray(x_train, jnp.float32)), to_device(jnp.asarray(y_train))
    x_test, y_test = (
        to_device(jnp.asarray(data.x_test, jnp.float32)),
        to_device(jnp.asarray(data.y_test)),
    )

    model, graphdef, template, compressor = _model_and_compressor(config, data, config.seeds[0])
    optimizer = _optimizer(config)
    steps = n_train // config.batch_size
    warmup_steps = max(1.0, config.warmup_fraction * config.epochs * steps)
    epoch_fn, evaluation, model_bits_fn = _programs(
        graphdef, compressor, optimizer, n_train, config.batch_size, warmup_steps
    )
    size = chunk_size(config, len(points), _bytes_per_point(template, config, data), len(devices))
    arch = describe(model)
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(template))
    grid_bits = grid_search_bits(len(points))
    initial = functools.cache(lambda seed: _initial_state(config, data, seed, optimizer))

    chunks = [points[i : i + size] for i in range(0, len(points), size)]
    todo = [c for c in chunks if any(point_id(*p) not in done for p in c)]
    bar = tqdm(total=len(todo) * config.epochs, disable=not progress, desc="sweep", unit="epoch")
    for chunk in todo:
        start = time.perf_counter()
        padded = chunk + [chunk[-1]] * (size - len(chunk))  # padding points are discarded
        state = jax.device_put(_stack([initial(seed) for _, seed in padded]), by_point)
        betas = jax.device_put(jnp.asarray([b for b, _ in padded], jnp.float32), by_point)
        seed_keys = [jax.random.key(seed) for _, seed in padded]
        for epoch in range(config.epochs):
            keys = jax.device_put(
                jnp.stack([jax.random.fold_in(k, epoch) for k in seed_keys]), by_point
            )
            state = epoch_fn(state, betas, keys, x_train, y_train)
            jax.block_until_ready(state)
            bar.update(1)
        trainable = state[0]
        train_bits, train_wrong = _evaluate(evaluation, trainable, x_train, y_train)
        test_bits, test_wrong = _evaluate(evaluation, trainable, x_test, y_test)
        estimates = np.asarray(model_bits_fn(trainable), np.float64)
        elapsed = time.perf_counter() - start
        for index, (beta, seed) in enumerate(chunk):
            name = point_id(beta, seed)
            if name in done or not writer:
                continue
            params, cstate = jax.device_get(_unstack(trainable, index))
            leaves = compressor.finalize(params, cstate)
            blob = encode_model(leaves, arch=arch)
            model_file = f"models/{name}.mdl"
            write_bytes_atomic(out / model_file, blob)
            sparsity, nonzero = _sparsity(leaves)
            train_error = float(train_wrong[index]) / n_train
            test_error = float(test_wrong[index]) / n_test
            file_bits = 8 * len(blob)
            record = {
                "point": name,
                "beta": beta,
                "seed": seed,
                "model_bits": float(estimates[index]),
                "model_file_bits": file_bits,
                "model_file": model_file,
                "train_data_bits": float(train_bits[index]),
                "test_data_bits": float(test_bits[index]),
                "train_error": train_error,
                "test_error": test_error,
                "train_loss": float(train_bits[index]) / n_train,
                "test_loss": float(test_bits[index]) / n_test,
                "gap": test_error - train_error,
                "sparsity": sparsity,
                "bits_per_kept_weight": file_bits / max(1, nonzero),
                "bound_code_bits": file_bits + grid_bits,
                "error_bound": float(
                    occam_bound(train_error, file_bits + grid_bits, n_train, config.delta)
                ),
                "n_train": n_train,
                "n_test": n_test,
                "num_params": n_params,
                "wall_seconds": elapsed / len(chunk),
                "chunk_wall_seconds": elapsed,
            }
            append_record(out / "records.jsonl", record)
            done.add(name)
    bar.close()
    return _ordered_records(out, points)


def _sparsity(leaves: dict) -> tuple[float, int]:
    """Fraction of zero bins among the quantized tensors, and the nonzero scalars in all."""
    quantized = [v.symbols for v in leaves.values() if isinstance(v, QuantizedLeaf)]
    raw = [v.values for v in leaves.values() if isinstance(v, RawLeaf)]
    zeros = sum(int(q.size - np.count_nonzero(q)) for q in quantized)
    nonzero = sum(int(np.count_nonzero(t)) for t in quantized + raw)
    return zeros / max(1, sum(q.size for q in quantized)), nonzero


def _optimizer(config: SweepConfig) -> optax.GradientTransformation:
    return optax.adam(config.learning_rate)


def _initial_state(config: SweepConfig, data, seed: int, optimizer):
    """``((params, cstate), opt_state, step)`` of one point, from its seed alone."""
    _, _, params, compressor = _model_and_compressor(config, data, seed)
    cstate = compressor.init(params, jax.random.key(seed))
    trainable = (params, cstate)
    return trainable, optimizer.init(trainable), jnp.float32(0)


def _ordered_records(out: Path, points) -> list[dict]:
    by_point = {r.get("point"): r for r in read_records(out)}
    return [by_point[point_id(*p)] for p in points if point_id(*p) in by_point]


def load_config(out: str | os.PathLike) -> SweepConfig:
    """The config a results folder was written with (from its manifest)."""
    path = Path(out) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{out} is not a sweep results folder (no manifest.json)")
    return SweepConfig.from_dict(json.loads(path.read_text())["config"], source=str(path))


__all__ = [
    "RECORD_KEYS",
    "ConfigMismatchError",
    "SweepConfig",
    "chunk_size",
    "load_config",
    "manifest",
    "point_id",
    "run",
]
