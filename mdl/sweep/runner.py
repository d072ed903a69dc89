"""Running a sweep: groups of same-shaped points as one vmapped, sharded program each.

Points that share a width and a training-set size share every shape, so their parameters,
compressor and optimizer states are stacked on a leading *points* axis and one
`mdl.engine.make_points_epoch` trains them all (beta, key and, under label noise, the
targets vary per point). The points axis is sharded over every device (a one-axis ``Mesh``);
points that do not fit in memory at once run in chunks, padded to a multiple of the device
count by repeating their last point (padding results are discarded).

A point's randomness comes from its seed alone (initialization, batch order, noise, which
labels label noise replaces), so points that share a seed differ only in their other axes
(common random numbers), and a point's record is the same whatever chunk, device count or
rerun computes it.

Every record's model code is a real two-part code: the structure code of the architecture
(`mdl.estimators.two_part.structure_bits`) plus the compact file of the compressed
parameters (`mdl.codec.compact`, written to ``DIR/models/``), so ``total_bits`` = model
code + training data bits is what `mdl.estimators.two_part.two_part` would report and
the MDL choice is the point with the smallest total.

Multi-host: call ``jax.distributed.initialize()`` on every host before `run`; the mesh
then spans ``jax.devices()`` of all hosts, every host runs the same program, and only process 0
writes records and files.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from mdl.bounds import grid_search_bits, occam_bound
from mdl.codes.data_codes import DataCode, data_code, default_data_code
from mdl.compress.files import encode_compressed
from mdl.data import load
from mdl.data.dataset import Dataset
from mdl.engine import (
    init_state,
    make_points_epoch,
    make_step,
    optimizer_for,
    warmup_steps_for,
)
from mdl.estimators.two_part import structure_bits
from mdl.inference import check_data_code_fits, evaluate_totals
from mdl.models.catalog import reference_model
from mdl.params import split_params
from mdl.records import append_record, read_records, write_bytes_atomic, write_json_atomic
from mdl.sweep.config import SetupError, SweepConfig, build_compressor, point_id
from mdl.sweep.folder import check_folder, manifest, ordered_records

RECORD_KEYS = (
    "beta",
    "seed",
    "label_noise",
    "train_size",
    "width",
    "model_bits",
    "model_file_bits",
    "structure_bits",
    "model_code_bits",
    "total_bits",
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
"""The keys of every sweep record (one line of ``records.jsonl``), in order; code lengths
are in bits (``*_bits``), errors are fractions."""

NOISE_STREAM = 2**31 - 1  # fold_in index of a seed's label-noise draws (epochs use 0, 1, ...)


def noisy_labels(labels: np.ndarray, fraction: float, seed: int, num_classes: int) -> np.ndarray:
    r"""``labels`` with each replaced, with probability ``fraction``, by a uniformly drawn class
    (Zhang et al. 2017, "Understanding deep learning requires rethinking generalization").
    The draws depend on the seed alone, so a seed's noisy sets are nested as the fraction
    grows (common random numbers).

    Label $i$ becomes $c_i \sim U\{0, \ldots, K - 1\}$ when $u_i <$ ``fraction``,
    $u_i \sim U(0, 1)$; a drawn class may equal the original, so about
    $f (K - 1) / K$ of the labels change.

    Args:
      labels: integer labels ``[n]``.
      fraction: $f$, in $[0, 1]$ (0 returns ``labels`` itself).
      seed: the noise's seed.
      num_classes: $K$.

    Returns:
      The noisy labels, ``labels``' dtype.

    References:
      C. Zhang, S. Bengio, M. Hardt, B. Recht, O. Vinyals, "Understanding deep learning
      requires rethinking generalization", ICLR 2017.
    """
    if fraction == 0:
        return labels
    key = jax.random.fold_in(jax.random.key(seed), NOISE_STREAM)
    pick_key, label_key = jax.random.split(key)
    replace = np.asarray(jax.random.uniform(pick_key, (len(labels),))) < fraction
    drawn = np.asarray(jax.random.randint(label_key, (len(labels),), 0, num_classes))
    return np.where(replace, drawn, labels).astype(labels.dtype)


class _Group:
    """Points that share shapes (width, training-set size): one compiled program."""

    def __init__(self, config: SweepConfig, data: Dataset, code: DataCode, width, size):
        self.config, self.data, self.code, self.width = config, data, code, width
        self.n_train = size or len(data.x_train)
        template = self.model(config.seeds[0])
        self.graphdef, params = split_params(template)
        self.template_params = params
        self.compressor = build_compressor(config.compressor)
        self.num_params = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(params))
        self.shapes = jax.tree.map(np.shape, params)
        self.structure_bits = structure_bits(template)
        # The optimizer's structure depends on the compressor state's, not on its values.
        cstate = self.compressor.init(params, jax.random.key(config.seeds[0]))
        self.optimizer = optimizer_for(
            self.compressor, params, cstate, optax.adam(config.learning_rate)
        )
        steps = self.n_train // config.batch_size
        warmup = warmup_steps_for(config.warmup_fraction, config.epochs, steps)
        self.step = make_step(
            self.graphdef, self.compressor, code, self.optimizer, self.n_train, warmup
        )
        self.per_point_targets = any(f > 0 for f in config.label_noise)
        # XLA:CPU slows convolutions twice over: inside a while loop (so no lax.scan epoch) and
        # vmapped with one kernel per point, as grouped convolutions, about 3x slower per point
        # than one point at a time (LeNet-5 on 2 cores: 0.34 s against 0.12 s per point-step),
        # so there a chunk is one point per device.
        self.one_point_per_device = _convolutional_on_cpu(template)
        self.epoch = make_points_epoch(
            self.step,
            config.batch_size,
            targets_per_point=self.per_point_targets,
            scan=not self.one_point_per_device if config.scan is None else config.scan,
        )
        self.hard = jax.jit(jax.vmap(self.compressor.hard))
        self.model_bits = jax.jit(jax.vmap(self.compressor.bits))

    def model(self, seed: int) -> nnx.Module:
        if callable(self.config.model):
            return self.config.model(self.data, seed, self.width)
        return reference_model(self.config.model, self.data, seed=seed, width=self.width)

    @functools.cache  # noqa: B019  (a group lives for one run)
    def initial(self, seed: int):
        _, params = split_params(self.model(seed))
        shapes = jax.tree.map(np.shape, params)
        if shapes != self.shapes:
            raise ValueError(
                f"the model for seed {seed} has parameter shapes {shapes}, seed "
                f"{self.config.seeds[0]}'s {self.shapes}: points that train as one program "
                "must share shapes (only the width and train_sizes axes may change them)"
            )
        cstate = self.compressor.init(params, jax.random.key(seed))
        return init_state(params, cstate, self.optimizer)

    def bytes_per_point(self) -> int:
        """A generous estimate of one point's training memory: parameters, compressor and
        Adam state, gradients, plus one batch's activations with room for XLA's temporaries."""
        inputs = math.prod(self.data.input_shape)
        return 4 * (8 * self.num_params + 32 * self.config.batch_size * max(inputs, 64))


def _convolutional_on_cpu(model: nnx.Module) -> bool:
    convolutional = any(isinstance(m, nnx.Conv) for _, m in nnx.iter_graph(model))
    return convolutional and jax.default_backend() == "cpu"


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


def chunk_size(
    config: SweepConfig,
    n_points: int,
    per_point_bytes: int,
    n_devices: int,
    one_point_per_device: bool = False,
) -> int:
    """Points per chunk: the config's, else one per device where vmapping does not pay
    (``one_point_per_device``), else as many as fit the memory budget on every device; a
    multiple of the device count (so the points axis divides evenly over the mesh).

    Args:
      config: the sweep's `SweepConfig` (``points_per_chunk`` wins when nonzero).
      n_points: the points to train.
      per_point_bytes: the estimated device memory of one point, in bytes.
      n_devices: the devices on the points axis.
      one_point_per_device: one point per device instead of the memory budget.

    Returns:
      The chunk size, a positive multiple of ``n_devices``.
    """
    if config.points_per_chunk:
        size = config.points_per_chunk
    elif one_point_per_device:
        size = n_devices
    else:
        size = max(1, n_devices * _memory_budget_bytes() // max(per_point_bytes, 1))
        size = min(size, n_points)
    return max(n_devices, -(-size // n_devices) * n_devices)


def _stack(trees):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _put(tree, sharding):
    """``tree`` as global arrays laid out by ``sharding``, from the same host values on every
    process (``jax.device_put`` cannot target another process's devices). PRNG keys travel as
    their key data."""

    def put(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            data = put(np.asarray(jax.random.key_data(leaf)))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


def _unstack(tree, index: int):
    return jax.tree.map(lambda leaf: leaf[index], tree)


def _prepare(config: SweepConfig, data: Dataset | None) -> tuple[Dataset, DataCode]:
    if data is None:
        data = load(config.data, **config.data_options)
    if config.max_train is not None:
        data = dataclasses.replace(
            data, x_train=data.x_train[: config.max_train], y_train=data.y_train[: config.max_train]
        )
    n = len(data.x_train)
    code = data_code(config.data_code) if config.data_code else default_data_code(data.y_train)
    if any(size > n for size in config.train_sizes):
        raise ValueError(f"train_sizes {list(config.train_sizes)} exceed the {n} training examples")
    if config.batch_size > n:
        raise ValueError(f"batch_size {config.batch_size} exceeds the {n} training examples")
    if any(f > 0 for f in config.label_noise) and code.name != "categorical":
        raise ValueError(
            f"label_noise replaces class labels; the {code.name} data code has none "
            "(use label_noise = [0.0])"
        )
    return data, code


def run(
    config: SweepConfig,
    out: str | os.PathLike,
    *,
    data: Dataset | None = None,
    progress: bool = True,
) -> list[dict]:
    r"""Run (or resume) the sweep ``config`` into folder ``out``; returns all its records.

    ``data`` (a `mdl.data.Dataset`) overrides loading ``config.data``. Each record has
    the keys of ``RECORD_KEYS`` plus ``point``, ``model_file``, ``n_train``, ``n_test``,
    ``num_params``, ``data_code``, ``chunk_wall_seconds``. ``model_code_bits`` is the structure
    code plus the compact file; ``error_bound`` is the Occam (kl) bound at ``config.delta`` with
    that code plus ``log2(number of points)`` (choosing any one point of the grid afterwards
    stays covered), for categorical data codes (None otherwise).

    In bits: ``model_code_bits`` $= L(\text{structure}) + 8 \cdot$ (compact file bytes), and
    ``error_bound`` is $p \le \mathrm{kl}^{-1}\big(q, (L + \log_2 P + \log_2(1/\delta))
    / m\big)$ for training error $q$ on $m$ examples, $L$ = ``model_code_bits``, $P$ points
    (`mdl.bounds.occam_bound`).

    Args:
      config: the `SweepConfig`.
      out: the sweep's folder (created, or resumed when it holds the same config).
      data: a `mdl.data.Dataset` to use instead of loading ``config.data``.
      progress: show progress bars.

    Returns:
      Every point's record (dicts), in the grid's order.

    Raises:
      SetupError: when the data, model, data code or compressor cannot start.
      ConfigMismatchError: when ``out`` holds another config's sweep.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978; J. Langford,
      "Tutorial on practical prediction theory for classification", JMLR, 2005 (the Occam
      bound).
    """
    out = Path(out)
    writer = jax.process_index() == 0
    if writer:
        check_folder(out, config)
    done = {r.get("point") for r in read_records(out)}
    points = config.points()
    if all(point_id(p) in done for p in points):
        return ordered_records(out, points)

    try:
        data, code = _prepare(config, data)
        groups = {}
        for point in points:  # every group is built (and checked) before any training
            shape_key = (point["width"], point["train_size"])
            if shape_key not in groups:
                groups[shape_key] = _Group(config, data, code, *shape_key)
                group = groups[shape_key]
                check_data_code_fits(group.graphdef, group.template_params, data, code)
                groups[shape_key].initial(config.seeds[0])
    except (ValueError, TypeError) as error:
        raise SetupError(f"the sweep cannot start: {error}") from error
    # The manifest is written once the data has loaded and passed its checks, so a failed
    # start leaves no folder that a corrected config would then be refused.
    if writer and not (out / "manifest.json").exists():
        write_json_atomic(out / "manifest.json", manifest(config))

    devices = jax.devices()
    mesh = Mesh(np.array(devices), ("points",))
    by_point = NamedSharding(mesh, PartitionSpec("points"))
    replicated = NamedSharding(mesh, PartitionSpec())
    grid_bits = grid_search_bits(len(points))

    todo = []
    for shape_key, group in groups.items():
        members = [p for p in points if (p["width"], p["train_size"]) == shape_key]
        size = chunk_size(
            config,
            len(members),
            group.bytes_per_point(),
            len(devices),
            one_point_per_device=group.one_point_per_device,
        )
        for i in range(0, len(members), size):
            chunk = members[i : i + size]
            if any(point_id(p) not in done for p in chunk):
                todo.append((group, chunk, size))
    bar = tqdm(total=len(todo) * config.epochs, disable=not progress, desc="sweep", unit="epoch")
    for group, chunk, size in todo:
        start = time.perf_counter()
        padded = chunk + [chunk[-1]] * (size - len(chunk))  # padding points are discarded
        n = group.n_train
        x_train = np.asarray(data.x_train[:n])
        y_train = np.asarray(data.y_train[:n])
        if group.per_point_targets:
            y_train = np.stack(
                [
                    noisy_labels(y_train, p["label_noise"], p["seed"], data.num_classes)
                    for p in padded
                ]
            )
        y_sharding = by_point if group.per_point_targets else replicated
        x_global, y_global = _put(x_train, replicated), _put(y_train, y_sharding)
        state = _put(_stack([group.initial(p["seed"]) for p in padded]), by_point)
        betas = _put(np.asarray([p["beta"] for p in padded], np.float32), by_point)
        active = _put(np.ones(len(padded), bool), by_point)
        seed_keys = [jax.random.key(p["seed"]) for p in padded]
        for epoch in range(config.epochs):
            keys = _put(jnp.stack([jax.random.fold_in(k, epoch) for k in seed_keys]), by_point)
            state = group.epoch(state, keys, betas, active, x_global, y_global)
            jax.block_until_ready(state)
            bar.update(1)
        # Every process gathers the trained points (multi-host: each holds only its shards)
        # and evaluates them locally; only process 0 writes.
        trained = jax.tree.map(
            np.asarray, multihost_utils.process_allgather((state.params, state.cstate), tiled=True)
        )
        hard = group.hard(*trained)
        train = evaluate_totals(
            group.graphdef,
            hard,
            x_train,
            y_train,
            code,
            points=True,
            targets_per_point=group.per_point_targets,
        )
        test = evaluate_totals(group.graphdef, hard, data.x_test, data.y_test, code, points=True)
        estimates = np.asarray(group.model_bits(*trained), np.float64)
        elapsed = time.perf_counter() - start
        for index, point in enumerate(chunk):
            name = point_id(point)
            if name in done or not writer:
                continue
            record = _record(group, code, point, index, trained, hard, train, test, estimates, out)
            record |= {
                "bound_code_bits": record["model_code_bits"] + grid_bits,
                "wall_seconds": elapsed / len(chunk),
                "chunk_wall_seconds": elapsed,
                "n_test": len(data.x_test),
            }
            record["error_bound"] = (
                float(
                    occam_bound(record["train_error"], record["bound_code_bits"], n, config.delta)
                )
                if code.name == "categorical"
                else None
            )
            append_record(out / "records.jsonl", record)
            done.add(name)
    bar.close()
    return ordered_records(out, points)


def _record(group, code, point, index, trained, hard, train, test, estimates, out) -> dict:
    """One point's record, its compact file written to ``out/models/``."""
    name = point_id(point)
    params, cstate = _unstack(trained, index)
    model = nnx.merge(group.graphdef, params)
    blob = encode_compressed(model, group.compressor, cstate, compact=True)
    model_file = f"models/{name}.mdc"
    write_bytes_atomic(out / model_file, blob)
    weights = [np.asarray(w) for w in jax.tree.leaves(_unstack(hard, index))]
    nonzero = sum(int(np.count_nonzero(w)) for w in weights)
    total = sum(w.size for w in weights)
    file_bits = 8 * len(blob)
    code_bits = group.structure_bits + file_bits
    train_bits, train_wrong, train_count = (float(t[index]) for t in train)
    test_bits, test_wrong, test_count = (float(t[index]) for t in test)
    n = group.n_train
    train_error = train_wrong / max(train_count, 1.0)
    test_error = test_wrong / max(test_count, 1.0)
    return {
        "point": name,
        **point,
        "train_size": n,
        "data_code": code.describe(),
        "model_bits": float(estimates[index]),
        "model_file_bits": file_bits,
        "model_file": model_file,
        "structure_bits": group.structure_bits,
        "model_code_bits": code_bits,
        "total_bits": code_bits + train_bits,
        "train_data_bits": train_bits,
        "test_data_bits": test_bits,
        "train_error": train_error,
        "test_error": test_error,
        "train_loss": train_bits / n,
        "test_loss": test_bits / max(len(group.data.x_test), 1),
        "gap": test_error - train_error,
        "sparsity": 1.0 - nonzero / max(total, 1),
        "bits_per_kept_weight": file_bits / max(1, nonzero),
        "n_train": n,
        "num_params": group.num_params,
    }
