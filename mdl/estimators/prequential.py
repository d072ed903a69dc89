"""The prequential (online) code: labels sent chunk by chunk, each with a model trained on
all the labels before it.

With chunk boundaries ``t_0 < t_1 < ... < t_s = n``, the first ``t_0`` labels go with the
uniform code (``t_0 log2 K`` bits); for each next chunk a fresh model is trained from scratch
on labels ``[0, t_k)`` and codes labels ``[t_k, t_{k+1})`` with its predictive distribution:

    L_preq(y | x) = t_0 log2 K + sum_k sum_{t_k <= i < t_{k+1}} -log2 p_k(y_i | x_i)

(Rissanen, "Universal coding, information, prediction, and estimation", 1984; Dawid's
prequential principle, 1984; Blier and Ollivier, "The description length of deep learning
models", NeurIPS 2018; Voita and Titov, "Information-theoretic probing with minimum
description length", EMNLP 2020). The decoder can do the same: it knows the inputs, the
training program and the labels decoded so far, so it retrains each model and decodes the
next chunk. `encode_prequential` and `decode_prequential` do exactly that.

Each chunk model holds out the last ``holdout_fraction`` of its seen labels: it trains on the
rest with minibatches drawn uniformly with replacement, is evaluated on the held-out slice
every ``eval_every`` steps, keeps its best parameters (early stopping with ``patience``), and
finally picks a softmax temperature from a fixed grid on that slice (an over-confident model
pays dearly for its mistakes; the decoder makes the same choice from the same labels).

The chunk models train one at a time, each as the same compiled block of steps (a vmapped
program over one lane), and a chunk model's numbers depend only on its own data and key, so
the decoder, which trains each with the labels it has decoded so far, reproduces them bit for
bit and trains every model once, as the encoder did: decoding costs what encoding costs. Models
trained side by side as lanes of one vmapped group would be faster to encode on an
accelerator, but the decoder cannot batch them (each needs the labels the previous one
decodes), and a lane's numbers in a group of G are not bit-identical to the same lane alone
(XLA picks other kernels for other batch shapes), so the decoder would retrain the whole group
once per lane: G times the encoder's work.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from mdl.codec.container import pack, read_varints, require, unpack, varints
from mdl.codec.errors import CodecError
from mdl.codec.stream import LabelChunkDecoder, label_chunk_sections
from mdl.codes.data import categorical_bits
from mdl.codes.data_codes import categorical
from mdl.compress.base import float32_baseline
from mdl.data.shift import check_shift, random_shift
from mdl.engine import init_state, keep_where, make_sampled_block, make_step, optimizer_for
from mdl.estimators.report import DescriptionLength
from mdl.estimators.validation import check_labelled
from mdl.inference import evaluate, predictive_probs
from mdl.params import split_params
from mdl.records import write_bytes_atomic

TEMPERATURES = tuple(float(t) for t in np.geomspace(0.25, 4.0, 33))
KIND = "PREQ"
UNIT_TEMPERATURE = int(np.argmin(np.abs(np.log(TEMPERATURES))))  # index of T = 1
MIN_CALIBRATION_LABELS = 50


class PrequentialSettings(NamedTuple):
    r"""Everything both ends must agree on (besides the inputs and the model family).

    `encode_prequential` writes them at the head of its file, so they are part of the code
    length: a flag per field that differs from its default, then only those fields, and the
    boundaries as their rule ``(n, t_0, ratio)`` when they grow geometrically (a dozen bytes
    for the defaults, against about 80 in the first format, which listed every boundary twice
    and every field).

    Attributes:
      boundaries: the chunk boundaries $(t_0, \ldots, t_s = n)$ (`chunk_boundaries`).
      num_classes: $K$; the first $t_0$ labels cost $t_0 \log_2 K$ bits.
      batch_size: each chunk model's minibatch size.
      learning_rate: its learning rate.
      max_epochs: its step budget in epochs of its training labels: at most
        ``max(min_steps, ceil(max_epochs * fit_size / batch_size))`` steps, rounded up to a
        multiple of ``eval_every`` (early stopping keeps the best evaluation).
      min_steps: the least step budget.
      eval_every: steps between held-out evaluations (early stopping).
      patience: evaluations without improvement before stopping.
      holdout_fraction: the share of its seen labels a chunk model holds out.
      seed: the seed of every chunk model's initialization and minibatches.
      calibrate: pick a softmax temperature on the held-out slice.
      augment: shift each training image by up to this many pixels (`mdl.data.random_shift`,
        with keys from the chunk model's: the decoder draws the same shifts); 0: no shifts.
        The held-out slice and the coded chunk are never shifted.
      ratio: the growth rule's ratio when ``boundaries`` came from it (`chunk_boundaries`):
        the file then stores ``(n, t_0, ratio)`` instead of every boundary; None for an
        explicit schedule.

    References:
      L. Blier, Y. Ollivier, "The description length of deep learning models", NeurIPS 2018;
      A. P. Dawid, "Present position and potential developments: the prequential approach",
      JRSS A, 1984.
    """

    boundaries: tuple[int, ...]
    num_classes: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    max_epochs: int = 30
    min_steps: int = 100
    eval_every: int = 50
    patience: int = 5
    holdout_fraction: float = 0.1
    seed: int = 0
    calibrate: bool = True
    augment: int = 0
    ratio: float | None = None


MAX_CHUNKS = 4096  # chunk models a code may train: each is a full training run


def chunk_boundaries(n: int, first: int = 8, schedule=None, ratio: float = 2.0) -> tuple[int, ...]:
    r"""Chunk boundaries ``(t_0, ..., t_s = n)``: ``schedule`` if given (strictly increasing,
    ``2 <= t_0``, last ``<= n``; ``n`` is appended when missing), else growing from ``first``
    by ``ratio``.

    Growth gives $t_{j+1} = \max(t_j + 1, \lfloor r\, t_j \rfloor)$ while that is below $n$,
    then $n$: about $\log_r(n / t_0)$ chunk models. $r = 2$ (doubling) trains each model on as
    many labels as it codes; a smaller $r$ codes each label with a model trained on more of
    the labels before it (fewer bits) at the price of more chunk models (compute).

    Args:
      n: the number of labels, at least 2.
      first: $t_0$, in $[2, n - 1]$, when ``schedule`` is None.
      schedule: explicit boundaries, or None.
      ratio: $r > 1$, when ``schedule`` is None.

    Returns:
      The boundaries, a tuple ending with ``n``.

    Raises:
      ValueError: for fewer than 2 labels, a bad ``first``, ``ratio`` or ``schedule``, or more
        than ``MAX_CHUNKS`` chunks.

    References:
      L. Blier, Y. Ollivier, "The description length of deep learning models", NeurIPS 2018;
      A. P. Dawid, "Present position and potential developments: the prequential approach",
      JRSS A, 1984.
    """
    if n < 2:
        raise ValueError(f"the prequential code needs at least 2 examples; got {n}")
    if schedule is None:
        if not 2 <= first < n:
            raise ValueError(f"first chunk must be in [2, {n - 1}] for {n} examples; got {first}")
        if not (math.isfinite(ratio) and ratio > 1):
            raise ValueError(f"ratio must be a finite number > 1; got {ratio!r}")
        bounds = [first]
        while len(bounds) <= MAX_CHUNKS:
            grown = max(bounds[-1] + 1, math.floor(bounds[-1] * ratio))
            if grown >= n:
                return (*bounds, n)
            bounds.append(grown)
        raise ValueError(
            f"first={first} and ratio={ratio} make more than {MAX_CHUNKS} chunks of {n} labels"
        )
    bounds = [int(t) for t in schedule]
    if not bounds or bounds[0] < 2:
        raise ValueError(f"schedule must start at >= 2 examples (the first chunk); got {bounds}")
    if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError(f"schedule must be strictly increasing; got {bounds}")
    if bounds[-1] > n:
        raise ValueError(f"schedule ends at {bounds[-1]}, beyond the {n} examples of the data")
    if len(bounds) == 1 and bounds[0] == n:
        raise ValueError(f"schedule {bounds} leaves nothing for a model to code")
    if len(bounds) > MAX_CHUNKS:
        raise ValueError(f"schedule has {len(bounds)} chunks; at most {MAX_CHUNKS}")
    return tuple(bounds) if bounds[-1] == n else (*bounds, n)


class _Lane(NamedTuple):
    index: int  # chunk k: trained on [0, t_k), codes [t_k, t_{k+1})
    fit_size: int  # examples it trains on: [0, fit_size)
    holdout: tuple[int, int]  # [start, stop) of its held-out slice
    chunk: tuple[int, int]  # [start, stop) it codes
    max_steps: int


def _lanes(s: PrequentialSettings) -> list[_Lane]:
    lanes = []
    for k, (seen, stop) in enumerate(zip(s.boundaries[:-1], s.boundaries[1:], strict=True)):
        held = max(1, int(round(s.holdout_fraction * seen)))
        fit_size = seen - held
        steps = max(s.min_steps, math.ceil(s.max_epochs * fit_size / s.batch_size))
        steps = s.eval_every * math.ceil(steps / s.eval_every)
        lanes.append(_Lane(k, fit_size, (fit_size, seen), (seen, stop), steps))
    return lanes


class _Programs(NamedTuple):
    block: Callable
    heldout_bits: Callable
    select: Callable
    optimizer: optax.GradientTransformation


_PROGRAMS: dict = {}


def _programs(graphdef, params, settings: PrequentialSettings, holdout_size: int) -> _Programs:
    """The chunk models' programs, on the training core (`mdl.engine`): a chunk model is
    a model with no compressor (float32 weights) trained on its mean data bits (``n_train =
    1``, ``beta = 0``), so the step is exactly Adam on ``mean -log2 p(y | x)``."""
    cache_key = (graphdef, settings.batch_size, settings.learning_rate, settings.eval_every)
    cache_key += (holdout_size, settings.augment)
    if cache_key in _PROGRAMS:
        return _PROGRAMS[cache_key]
    compressor = float32_baseline()
    optimizer = optimizer_for(compressor, params, {}, optax.adam(settings.learning_rate))
    step = make_step(graphdef, compressor, categorical(), optimizer, n_train=1)
    augment = partial(random_shift, max_shift=settings.augment) if settings.augment else None
    lane_block = make_sampled_block(step, settings.batch_size, settings.eval_every, augment)
    temperatures = jnp.asarray(TEMPERATURES, jnp.float32)

    def lane_heldout_bits(params, start, count, x, y):
        offsets = jnp.arange(holdout_size)
        index = jnp.minimum(start + offsets, x.shape[0] - 1)
        logits = nnx.merge(graphdef, params)(x[index])
        bits = jax.vmap(lambda t: categorical_bits(logits / t, y[index]))(temperatures)
        return jnp.sum(jnp.where(offsets < count, bits, 0.0), axis=1)  # [temperatures]

    programs = _Programs(
        jax.jit(jax.vmap(lane_block, in_axes=(0, 0, 0, None, None, None))),
        jax.jit(jax.vmap(lane_heldout_bits, in_axes=(0, 0, 0, None, None))),
        jax.jit(keep_where),
        optimizer,
    )
    _PROGRAMS[cache_key] = programs
    return programs


def _stack(tree, count: int):
    return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (count, *leaf.shape)), tree)


def _train_group(group, graphdef, params, settings, x, y):
    """Train lanes as one vmapped program (the callers pass one lane: see the module doc);
    returns per lane ``(best params, temperature)``."""
    # The held-out slice has a fixed shape in the program; a power of two lets chunk models of
    # similar size share one compiled program (the lanes mask what lies past their slice).
    longest = max(lane.holdout[1] - lane.holdout[0] for lane in group)
    holdout_size = 1 << max(0, (longest - 1).bit_length())
    programs = _programs(graphdef, params, settings, holdout_size)
    count = len(group)
    state = _stack(init_state(params, {}, programs.optimizer), count)
    fit_sizes = jnp.asarray([lane.fit_size for lane in group], jnp.int32)
    starts = jnp.asarray([lane.holdout[0] for lane in group], jnp.int32)
    counts = jnp.asarray([lane.holdout[1] - lane.holdout[0] for lane in group], jnp.int32)
    max_steps = np.asarray([lane.max_steps for lane in group])
    lane_keys = [jax.random.fold_in(jax.random.key(settings.seed), lane.index) for lane in group]
    unit = UNIT_TEMPERATURE

    best_params = state.params
    best_bits = programs.heldout_bits(best_params, starts, counts, x, y)[:, unit]
    best_bits = np.asarray(best_bits, np.float64)
    active = np.ones(count, bool)
    waited = np.zeros(count, int)
    done_steps, block = 0, 0
    while active.any():
        keys = jnp.stack([jax.random.fold_in(k, block) for k in lane_keys])
        new_state = programs.block(state, keys, fit_sizes, x, y, 0.0)
        state = programs.select(jnp.asarray(active), new_state, state)
        done_steps += settings.eval_every
        block += 1
        bits = np.asarray(
            programs.heldout_bits(state.params, starts, counts, x, y)[:, unit], np.float64
        )
        improved = active & (bits < best_bits)
        best_params = programs.select(jnp.asarray(improved), state.params, best_params)
        best_bits = np.where(improved, bits, best_bits)
        waited = np.where(improved, 0, waited + 1)
        active &= (waited < settings.patience) & (done_steps < max_steps)
    temperatures = [1.0] * count
    if settings.calibrate:
        by_temperature = np.asarray(programs.heldout_bits(best_params, starts, counts, x, y))
        for i, lane in enumerate(group):
            # A temperature fitted to a handful of labels is noise: on MNIST, T = 0.25 chosen
            # on 2 held-out labels cost 18 bits a label on the next chunk. Calibrate only with
            # enough held-out labels.
            if lane.holdout[1] - lane.holdout[0] >= MIN_CALIBRATION_LABELS:
                temperatures[i] = TEMPERATURES[int(np.argmin(by_temperature[i]))]
    return [
        (jax.tree.map(lambda leaf, i=i: leaf[i], best_params), temperatures[i])
        for i in range(count)
    ]


def _initial_params(model_fn, seed: int):
    graphdef, params = split_params(model_fn(nnx.Rngs(seed)))
    return graphdef, params


def _settings(n, num_classes, first, schedule, options) -> PrequentialSettings:
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2; got {num_classes}")
    unknown = set(options) - set(PrequentialSettings._fields[2:])
    if unknown:
        raise ValueError(
            f"unknown prequential option(s) {sorted(unknown)}; known: "
            f"{', '.join(PrequentialSettings._fields[2:])}"
        )
    options = dict(options)
    if schedule is not None and options.get("ratio") is not None:
        raise ValueError("give schedule= (explicit boundaries) or ratio= (growth), not both")
    # stored as float32 in the file: the boundaries come from the stored value
    ratio = None if schedule is not None else float(np.float32(options.pop("ratio", 2.0)))
    options.pop("ratio", None)
    boundaries = chunk_boundaries(n, first, schedule, 2.0 if ratio is None else ratio)
    settings = PrequentialSettings(boundaries, num_classes, ratio=ratio, **options)
    # The file stores these two as float32; the encoder trains with the stored values too, or
    # the decoder's retraining would differ.
    settings = settings._replace(
        learning_rate=float(np.float32(settings.learning_rate)),
        holdout_fraction=float(np.float32(settings.holdout_fraction)),
    )
    if settings.batch_size < 1 or settings.eval_every < 1 or settings.patience < 1:
        raise ValueError("batch_size, eval_every and patience must be >= 1")
    if not 0 < settings.holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in (0, 1); got {settings.holdout_fraction}")
    return settings


def _checked(x, y, num_classes, first, schedule, options):
    """``(x, y, settings)`` for `prequential` and `encode_prequential`, every argument checked
    before any chunk model trains."""
    x, y = check_labelled(x, y)
    settings = _settings(len(y), num_classes, first, schedule, options)
    check_shift(settings.augment, x.shape[1:])
    if int(y.max()) >= num_classes:
        raise ValueError(f"labels go up to {int(y.max())}, beyond num_classes={num_classes}")
    return x, y, settings


def _run(x, y, model_fn, settings: PrequentialSettings):
    """Train every chunk model on the true labels; per chunk ``(probs, temperature)``."""
    graphdef, params = _initial_params(model_fn, settings.seed)
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    out = []
    for lane in _lanes(settings):
        # One lane at a time, exactly as the decoder must train it (see the module doc).
        [(p, t)] = _train_group([lane], graphdef, params, settings, xs, ys)
        start, stop = lane.chunk
        out.append((lane, predictive_probs(graphdef, p, x[start:stop], t), t))
    last_params, last_temperature = p, t
    return out, (graphdef, last_params, last_temperature)


def prequential(
    model_fn: Callable[[nnx.Rngs], nnx.Module],
    x,
    y,
    *,
    num_classes: int,
    first: int = 8,
    schedule=None,
    test: tuple | None = None,
    file: str | os.PathLike | None = None,
    **options,
) -> DescriptionLength:
    r"""The prequential code length of labels ``y`` given inputs ``x`` (module doc), in bits.

    Args:
      model_fn: ``rngs -> fresh model``; every chunk model starts from ``model_fn(Rngs(seed))``.
      x: the inputs, in the order they are transmitted (shuffle beforehand if sorted).
      y: the labels, in the same order.
      num_classes: K; the first chunk costs ``t_0 log2 K``.
      first: the first boundary ``t_0`` (those labels are coded uniformly); later boundaries
        double from it (see `chunk_boundaries`).
      schedule: explicit boundaries instead of doubling (see `chunk_boundaries`).
      test: optional ``(x_test, y_test)``: the last chunk model's test accuracy goes in
        ``details["test_accuracy"]``.
      file: where to write the file whose length is the total (atomically), for
        `decode_prequential`; None: measured, not kept.
      options: fields of `PrequentialSettings` (batch_size, learning_rate, max_epochs,
        min_steps, eval_every, patience, holdout_fraction, seed, calibrate, augment; ``ratio``,
        the boundaries' growth when there is no ``schedule``, default 2).

    Returns parts ``first_chunk`` and ``model_chunks`` (ideal code lengths) and
    ``file_overhead``, so the total is the size of `encode_prequential`'s file (written
    and measured here); ``details`` has the per-chunk table (boundaries, bits, bits per label,
    temperature).

    In bits: $L = t_0 \log_2 K + \sum_{s \ge 1} \sum_{t_{s-1} \le i < t_s}
    -\log_2 p_{\hat\theta_s}(y_i \mid x_i)$ plus the file's overhead, with $\hat\theta_s$
    trained on the first $t_{s-1}$ examples.

    References:
      A. P. Dawid, "Present position and potential developments: the prequential approach",
      JRSS A, 1984; J. Rissanen, "Universal coding, information, prediction, and estimation",
      IEEE Trans. Inf. Theory, 1984; L. Blier and Y. Ollivier, "The description length of deep
      learning models", NeurIPS 2018.
    """
    x, y, settings = _checked(x, y, num_classes, first, schedule, options)
    runs, (graphdef, last_params, _) = _run(x, y, model_fn, settings)
    table, total = [], 0.0
    for lane, probs, temperature in runs:
        start, stop = lane.chunk
        picked = probs[np.arange(stop - start), y[start:stop]]
        bits = float(-np.sum(np.log2(np.maximum(picked, 1e-300))))
        total += bits
        table.append(
            {
                "start": start,
                "stop": stop,
                "bits": bits,
                "bits_per_label": bits / (stop - start),
                "temperature": temperature,
            }
        )
    first_bits = settings.boundaries[0] * math.log2(num_classes)
    data = _encode(settings, y, runs)
    if file is not None:
        write_bytes_atomic(file, data)
    file_bits = 8.0 * len(data)
    parts = {
        "first_chunk": first_bits,
        "model_chunks": total,
        # The real file is the ideal length plus the coder's state, settings and container.
        "file_overhead": max(0.0, file_bits - first_bits - total),
    }
    details = {
        "chunks": table,
        "boundaries": list(settings.boundaries),
        "file_bits": file_bits,
        "ideal_bits": first_bits + total,
    }
    if test is not None:
        # The last chunk model (trained on all but the last chunk) is the code's final model.
        details["test_accuracy"] = 1.0 - evaluate(graphdef, last_params, *check_labelled(*test))[1]
    return DescriptionLength("prequential", parts, len(y), num_classes, real=True, details=details)


def encode_prequential(
    model_fn, x, y, *, num_classes: int, first: int = 8, schedule=None, **options
) -> bytes:
    r"""The labels as a real prequential code (kind PREQ), one container section: the settings
    (`PrequentialSettings`), the labels' CRC-32, then one rANS stream of every chunk, the first
    with the uniform code and each next with its model's probabilities
    (the sections of `mdl.codec.encode_label_chunks`; the chunk sizes are not stored, the
    boundaries give them). Files of the first format (sections SETT, META, RANS) still decode.

    The file's $8 \cdot$ ``len(bytes)`` bits are $t_0 \log_2 K + \sum_{s \ge 1}
    \sum_{t_{s-1} \le i < t_s} -\log_2 p_{\hat\theta_s}(y_i \mid x_i)$ (module doc) plus the
    settings, one coder state and the container's header: the total of `prequential`.

    Args:
      model_fn: ``rngs -> fresh model``, the same the decoder will use.
      x: the inputs, in transmission order.
      y: the labels.
      num_classes: $K$.
      first: $t_0$ (see `chunk_boundaries`).
      schedule: explicit boundaries instead of doubling.
      **options: fields of `PrequentialSettings`.

    Returns:
      The file's bytes; `decode_prequential` reads them back.

    References:
      L. Blier, Y. Ollivier, "The description length of deep learning models", NeurIPS 2018;
      A. P. Dawid, "Present position and potential developments: the prequential approach",
      JRSS A, 1984.
    """
    x, y, settings = _checked(x, y, num_classes, first, schedule, options)
    return _encode(settings, y, _run(x, y, model_fn, settings)[0])


def _encode(settings: PrequentialSettings, y, runs) -> bytes:
    t0, k = settings.boundaries[0], settings.num_classes
    chunks = [(np.full((t0, k), 1.0 / k), y[:t0])]
    chunks += [(probs, y[lane.chunk[0] : lane.chunk[1]]) for lane, probs, _ in runs]
    sections = label_chunk_sections(chunks)
    # One section: the settings (what the decoder cannot infer), the labels' checksum (the
    # last 4 bytes of META: its chunk sizes follow from the boundaries), the coded words.
    crc = sections["META"][-4:]
    return pack(KIND, {"CODE": _settings_bytes(settings) + crc + sections["RANS"]})


def decode_prequential(data: bytes, model_fn, x) -> np.ndarray:
    """Recover the labels from `encode_prequential`'s bytes, the inputs ``x`` and the
    same ``model_fn``: retrain each chunk model on the labels decoded so far.

    Args:
      data: the bytes of `encode_prequential`.
      model_fn: the encoder's ``rngs -> fresh model``.
      x: the encoder's inputs, in the same order.

    Returns:
      The labels, int64 ``[n]``.

    Raises:
      CodecError: for corrupt or truncated bytes, inputs of another length, or a model or
        inputs other than the encoder's (the labels' checksum fails).

    References:
      L. Blier, Y. Ollivier, "The description length of deep learning models", NeurIPS 2018;
      A. P. Dawid, "Present position and potential developments: the prequential approach",
      JRSS A, 1984.
    """
    sections = unpack(data, KIND)
    x = np.asarray(x, np.float32)
    if "CODE" in sections:
        settings, at = _settings_from_bytes(sections["CODE"])
        crc, words = sections["CODE"][at : at + 4], sections["CODE"][at + 4 :]
        if len(crc) != 4:
            raise CodecError("prequential code is truncated before its checksum")
    else:  # the format before the one-section layout: settings, META, RANS
        settings, at = _legacy_settings_from_bytes(require(sections, "SETT")[0])
    if settings.boundaries[-1] != len(x):
        raise CodecError(
            f"the code holds {settings.boundaries[-1]} labels; x has {len(x)} examples"
        )
    if (
        min(settings.batch_size, settings.eval_every, settings.patience) < 1
        or not 0 < settings.holdout_fraction < 1
        or not 0 < settings.learning_rate < math.inf
    ):
        raise CodecError(f"prequential settings hold invalid training fields: {settings}")
    try:
        check_shift(settings.augment, x.shape[1:])
    except ValueError as error:
        raise CodecError(f"prequential settings hold an invalid shift: {error}") from None
    if "CODE" in sections:
        b = settings.boundaries
        sizes = [b[0], *(hi - lo for lo, hi in zip(b, b[1:], strict=False))]
        meta = varints([len(sizes), *sizes, settings.num_classes]) + crc
        sections = {"META": meta, "RANS": words}
    decoder = LabelChunkDecoder(sections)
    k, t0 = settings.num_classes, settings.boundaries[0]
    y = np.zeros(len(x), np.int64)
    y[:t0] = decoder.decode(np.full((t0, k), 1.0 / k))
    graphdef, params = _initial_params(model_fn, settings.seed)
    xs = jnp.asarray(x)
    for lane in _lanes(settings):
        # The encoder's program on the labels known now (the unknown ones are zero, and the
        # lane reads only labels before its chunk): the same probabilities, bit for bit.
        [(p, temperature)] = _train_group([lane], graphdef, params, settings, xs, jnp.asarray(y))
        start, stop = lane.chunk
        y[start:stop] = decoder.decode(predictive_probs(graphdef, p, x[start:stop], temperature))
    decoder.finish()
    return y


_DEFAULTS = PrequentialSettings((2,), 2)
_OPTIONAL = (  # written only when they differ from the defaults (a flag bit each)
    "batch_size",
    "learning_rate",
    "max_epochs",
    "min_steps",
    "eval_every",
    "patience",
    "holdout_fraction",
    "seed",
    "calibrate",
    "augment",
)
_FLOAT_FIELDS = ("learning_rate", "holdout_fraction")  # float32, as trained with
_FLOAT = struct.Struct("<f")


def _stored(settings: PrequentialSettings, field: str):
    """A field as the file holds it (and as the chunk models train with it)."""
    value = getattr(settings, field)
    return float(np.float32(value)) if field in _FLOAT_FIELDS else int(value)


def _settings_bytes(settings: PrequentialSettings) -> bytes:
    """Flags (bit 0: boundaries by the growth rule; bit 1 + i: ``_OPTIONAL[i]`` is not its
    default), the boundaries (``n, t_0`` and the float32 ratio, or their count and gaps), the
    number of classes and each non-default field (varint, or float32). A file made with the
    defaults and doubling spends a dozen bytes here."""
    changed = [_stored(settings, f) != _stored(_DEFAULTS, f) for f in _OPTIONAL]
    rule = settings.ratio is not None
    flags = int(rule) | sum(1 << (1 + i) for i, c in enumerate(changed) if c)
    b = settings.boundaries
    if rule:
        head = varints([flags, b[-1], b[0]]) + _FLOAT.pack(settings.ratio)
    else:
        head = varints([flags, len(b), b[0], *(hi - lo for lo, hi in zip(b, b[1:], strict=False))])
    body = varints([settings.num_classes])
    for field, c in zip(_OPTIONAL, changed, strict=True):
        if c:
            value = getattr(settings, field)
            body += _FLOAT.pack(value) if field in _FLOAT_FIELDS else varints([int(value)])
    return head + body


def _settings_from_bytes(payload: bytes) -> tuple[PrequentialSettings, int]:
    """`_settings_bytes` read back from the start of ``payload``; (settings, next offset)."""
    (flags,), at = read_varints(payload, 1)
    if not 0 <= flags < 1 << (1 + len(_OPTIONAL)):
        raise CodecError(f"prequential settings flags {flags} are out of range")
    ratio = None
    if flags & 1:
        (n, first), at = read_varints(payload, 2, at)
        if at + _FLOAT.size > len(payload):
            raise CodecError("prequential settings are truncated")
        (ratio,) = _FLOAT.unpack_from(payload, at)
        at += _FLOAT.size
        ratio = float(ratio)
        try:
            boundaries = chunk_boundaries(n, first, ratio=ratio)
        except ValueError as error:
            raise CodecError(f"prequential settings hold an invalid chunk rule: {error}") from None
    else:
        (count,), at = read_varints(payload, 1, at)
        if not 1 <= count <= MAX_CHUNKS + 1:
            raise CodecError(f"prequential settings declare {count} chunk boundaries")
        deltas, at = read_varints(payload, count, at)
        if any(d < 1 for d in deltas):
            raise CodecError("prequential settings hold invalid boundaries")
        boundaries = tuple(int(v) for v in np.cumsum(deltas))
    (num_classes,), at = read_varints(payload, 1, at)
    fields = {}
    for i, field in enumerate(_OPTIONAL):
        if flags & (1 << (1 + i)):
            if field in _FLOAT_FIELDS:
                if at + _FLOAT.size > len(payload):
                    raise CodecError("prequential settings are truncated")
                (fields[field],) = _FLOAT.unpack_from(payload, at)
                at += _FLOAT.size
            else:
                (fields[field],), at = read_varints(payload, 1, at)
    if num_classes < 2 or any(fields.get(f, 1) < 0 for f in _OPTIONAL if f not in _FLOAT_FIELDS):
        raise CodecError("prequential settings hold invalid fields")
    # absent fields are the defaults, as stored (the encoder trained with float32 values)
    fields = {f: fields.get(f, _stored(_DEFAULTS, f)) for f in _OPTIONAL}
    fields["calibrate"] = bool(fields["calibrate"])
    return PrequentialSettings(boundaries, num_classes, ratio=ratio, **fields), at


_INT_FIELDS = (
    "num_classes",
    "batch_size",
    "max_epochs",
    "min_steps",
    "eval_every",
    "patience",
    "seed",
    "calibrate",
)
_FLOATS = struct.Struct("<ff")  # learning_rate, holdout_fraction


def _legacy_settings_from_bytes(payload: bytes) -> tuple[PrequentialSettings, int]:
    """The SETT section of the first prequential format (files written before the
    one-section layout, such as the committed code-length table's)."""
    (count,), at = read_varints(payload, 1)
    if not 1 <= count <= 1 << 16:
        raise CodecError(f"prequential settings declare {count} chunk boundaries")
    values, at = read_varints(payload, count + len(_INT_FIELDS), at)
    if len(payload) != at + _FLOATS.size:
        raise CodecError("prequential settings section has the wrong length")
    deltas, ints = values[:count], values[count:]
    if any(d < 1 for d in deltas) or any(v < 0 for v in ints):
        raise CodecError("prequential settings hold invalid boundaries or fields")
    fields = dict(zip(_INT_FIELDS, ints, strict=True))
    fields["calibrate"] = bool(fields["calibrate"])
    learning_rate, holdout = _FLOATS.unpack_from(payload, at)
    settings = PrequentialSettings(
        tuple(int(v) for v in np.cumsum(deltas)),
        learning_rate=float(np.float32(learning_rate)),
        holdout_fraction=float(holdout),
        **fields,
    )
    return settings, len(payload)
