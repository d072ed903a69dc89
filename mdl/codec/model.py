"""Compressed models <-> bytes.

A model file is a container of kind ``MODL``:

* ``META``: MessagePack (floats as float32) describing each tensor in order: path, shape,
  and either ``["q", step, lo, alphabet, prior]`` (the bin range, the prior as
  ``[family code, *parameters]``) or ``["f"]`` (raw float32);
* ``ARCH`` (optional): MessagePack naming a reference architecture, so ``load_compressed`` can
  rebuild the model without a template;
* one section per tensor, ``T000``, ``T001``...: the rANS words of its bins (quantized), or its
  little-endian float32 values (raw).

The bins are coded against the prior they were trained with (evaluated in float64 from its
float32 parameters), so ``8 * len(file)`` is the training-time rate plus the coder's few words
per tensor and this metadata.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import msgpack
import numpy as np

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codec.stream import (
    MAX_SYMBOLS,
    _prior_table,
    _rans_decode,
    _rans_decode_segments,
    _rans_encode,
    _rans_encode_segments,
)
from mdl.codes.priors import PRIOR_FAMILIES, check_prior, prior_to_json

KIND = "MODL"


class QuantizedLeaf(NamedTuple):
    """A tensor as integer bins ``symbols`` times ``step``, coded with ``prior``."""

    symbols: np.ndarray  # int64, the tensor's shape
    step: np.float32
    prior: Any  # a prior from mdl.codes.priors, parameters as float32


class RawLeaf(NamedTuple):
    """A tensor kept at float32 (charged 32 bits per scalar)."""

    values: np.ndarray


class SparseLeaf(NamedTuple):
    """A pruned tensor: which entries are nonzero (coded as i.i.d. Bernoulli(keep_rate) flags,
    ``n h2(k / n)`` bits, within ``O(log n)`` of ``log2 C(n, k)``) and the kept values at
    float32 (32 bits each)."""

    values: np.ndarray  # float32, the tensor's shape, zeros where pruned


class CodebookLeaf(NamedTuple):
    """A tensor of shared values: ``centroids[index]``; the indices are coded with their
    empirical frequencies (stored as float32), the centroids kept at float32."""

    index: np.ndarray  # int64, the tensor's shape, values in [0, K)
    centroids: np.ndarray  # float32 [K]


def _codebook_table(frequencies: np.ndarray) -> np.ndarray:
    table = np.asarray(frequencies, np.float32).astype(np.float64)
    if table.ndim != 1 or table.size < 1 or not np.all(np.isfinite(table)) or np.any(table < 0):
        raise ValueError("codebook frequencies must be finite and non-negative")
    if table.sum() <= 0:
        raise ValueError("codebook frequencies sum to zero")
    return table / table.sum()


class GroupedLeaf(NamedTuple):
    """A tensor quantized per group of its last axis (output units): the channels are cut into
    ``len(steps)`` contiguous groups (:func:`group_bounds`), group ``g`` is ``symbols[...,
    group] * steps[g]`` coded with ``priors[g]``. All groups share one rANS stream."""

    symbols: np.ndarray  # int64, the tensor's shape
    steps: np.ndarray  # float32 [G]
    priors: tuple  # G priors from mdl.codes.priors


def group_bounds(channels: int, groups: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]``: ``groups`` contiguous, near-equal slices of ``channels``."""
    if not 1 <= groups <= max(channels, 1):
        raise ValueError(f"groups must be in [1, {channels}] (the channels); got {groups}")
    return [(g * channels // groups, (g + 1) * channels // groups) for g in range(groups)]


def group_index(channels: int, groups: int) -> np.ndarray:
    """The group of every channel, ``[channels]`` int32 (for broadcasting per-group values)."""
    index = np.zeros(channels, np.int32)
    for g, (start, stop) in enumerate(group_bounds(channels, groups)):
        index[start:stop] = g
    return index


def sparse_leaf_bits(n, k):
    """Ideal bits of a :class:`SparseLeaf` with ``k`` of ``n`` entries kept, side information
    (the keep rate, one float32) included: ``n h2(k / n) + 32 k + 32``. Differentiable in
    ``k`` (an expected count during training)."""
    import jax.numpy as jnp
    from jax.scipy.special import xlogy

    # xlogy makes 0 log 0 = 0 (all kept or all pruned costs no flags, as in the file); the
    # clip keeps the gradient finite there (float32 cannot hold 1 - 1e-12).
    rate = jnp.clip(jnp.asarray(k, jnp.float32) / n, 0.0, 1.0)
    safe = jnp.clip(rate, 1e-6, 1 - 1e-6)
    entropy = -(xlogy(rate, safe) + xlogy(1 - rate, 1 - safe)) / math.log(2)
    flags = n * entropy
    return flags + 32.0 * k + 32.0


def _tag(index: int) -> str:
    if index >= 1000:
        raise ValueError("a model file holds at most 1000 tensors")
    return f"T{index:03d}"


# Priors in a model file: [family code, *parameters], a parameter being a nested prior or a
# list of float32 values. Codes are fixed here, never derived from dict order.
_FAMILY_CODES = ("laplace", "gaussian", "logistic", "mixture", "spike_and_slab", "uniform")


def _prior_to_list(prior) -> list:
    description = prior_to_json(prior)

    def compact(d):
        values = [
            compact(v) if isinstance(v, dict) else np.atleast_1d(v).tolist()
            for v in d["params"].values()
        ]
        return [_FAMILY_CODES.index(d["family"]), *values]

    return compact(description)


_NESTED_FIELDS = ("slab", "components")  # parameters that are themselves priors


def _prior_from_list(items, depth: int = 0):
    """Inverse of :func:`_prior_to_list`; ValueError on anything malformed or invalid."""
    if depth > 4 or not isinstance(items, list) or not items or type(items[0]) is not int:
        raise ValueError("malformed prior")
    if not 0 <= items[0] < len(_FAMILY_CODES):
        raise ValueError(f"unknown prior family code {items[0]}")
    family = PRIOR_FAMILIES[_FAMILY_CODES[items[0]]]
    if len(items) != len(family._fields) + 1:
        raise ValueError(f"prior {_FAMILY_CODES[items[0]]} needs {len(family._fields)} parameters")
    values = {}
    for field, value in zip(family._fields, items[1:], strict=True):
        if field in _NESTED_FIELDS:
            values[field] = _prior_from_list(value, depth + 1)
        elif isinstance(value, list) and value and all(type(v) is float for v in value):
            values[field] = (
                np.float32(value[0]) if len(value) == 1 else np.asarray(value, np.float32)
            )
        else:
            raise ValueError(f"prior parameter {field!r} must be a list of floats")
    prior = family(**values)
    check_prior(prior)
    return prior


def encode_model(leaves: dict, arch: dict | None = None) -> bytes:
    """Write finalized leaves (``{path: QuantizedLeaf | GroupedLeaf | SparseLeaf | RawLeaf}``)
    to bytes."""
    meta, sections = [], {}
    for index, (path, leaf) in enumerate(leaves.items()):
        if isinstance(leaf, QuantizedLeaf):
            symbols = np.asarray(leaf.symbols, dtype=np.int64)
            lo = int(symbols.min()) if symbols.size else 0
            hi = int(symbols.max()) if symbols.size else 0
            table = _prior_table(leaf.prior, lo, hi)
            payload = _rans_encode((symbols.reshape(-1) - lo), table) if symbols.size else b""
            entry = ["q", float(np.float32(leaf.step)), lo, hi - lo + 1, _prior_to_list(leaf.prior)]
        elif isinstance(leaf, RawLeaf):
            values = np.asarray(leaf.values, dtype=np.float32)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"leaf {path!r} holds NaN or infinite values")
            symbols, payload, entry = values, values.astype("<f4").tobytes(), ["f"]
        elif isinstance(leaf, GroupedLeaf):
            symbols = np.asarray(leaf.symbols, dtype=np.int64)
            steps = np.asarray(leaf.steps, dtype=np.float32).reshape(-1)
            if symbols.ndim < 1 or len(leaf.priors) != steps.size:
                raise ValueError(
                    f"leaf {path!r}: a grouped tensor needs an axis and one prior per step"
                )
            segments, groups = [], []
            for (start, stop), step, prior in zip(
                group_bounds(symbols.shape[-1], steps.size), steps, leaf.priors, strict=True
            ):
                part = symbols[..., start:stop].reshape(-1)
                lo = int(part.min()) if part.size else 0
                hi = int(part.max()) if part.size else 0
                segments.append((part - lo, _prior_table(prior, lo, hi)))
                groups.append([float(step), lo, hi - lo + 1, _prior_to_list(prior)])
            payload = _rans_encode_segments(segments)
            entry = ["g", groups]
        elif isinstance(leaf, CodebookLeaf):
            bins = np.asarray(leaf.index, dtype=np.int64)
            centroids = np.asarray(leaf.centroids, dtype=np.float32).reshape(-1)
            if not np.all(np.isfinite(centroids)):
                raise ValueError(f"leaf {path!r} has NaN or infinite centroids")
            if bins.size and (bins.min() < 0 or bins.max() >= centroids.size):
                raise ValueError(f"leaf {path!r}: indices must lie in [0, {centroids.size})")
            counts = np.bincount(bins.reshape(-1), minlength=centroids.size)
            frequencies = (counts / max(bins.size, 1)).astype(np.float32)
            payload = (
                _rans_encode(bins.reshape(-1), _codebook_table(frequencies)) if bins.size else b""
            )
            symbols = bins
            entry = ["c", centroids.tolist(), frequencies.tolist()]
        elif isinstance(leaf, SparseLeaf):
            values = np.asarray(leaf.values, dtype=np.float32)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"leaf {path!r} holds NaN or infinite values")
            flags = (values.reshape(-1) != 0).astype(np.int64)
            rate = np.float32(flags.mean()) if flags.size else np.float32(0)
            coded = b""
            if 0 < rate < 1:
                coded = _rans_encode(flags, np.array([1 - float(rate), float(rate)]))
            kept = values.reshape(-1)[flags == 1].astype("<f4").tobytes()
            symbols, payload, entry = values, coded + kept, ["s", float(rate), len(coded)]
        else:
            raise TypeError(
                f"leaf {path!r} must be a QuantizedLeaf, GroupedLeaf, CodebookLeaf, RawLeaf or "
                "SparseLeaf; "
                f"got {type(leaf).__name__}"
            )
        meta.append([path, list(np.shape(symbols)), *entry])
        sections[_tag(index)] = payload
    # MessagePack with float32 floats (every float here is a float32): about 40 bytes a tensor,
    # a third of JSON's, which matters when the whole model is a few kilobytes.
    head = {"META": msgpack.packb(meta, use_single_float=True)}
    if arch is not None:
        head["ARCH"] = msgpack.packb(arch, use_single_float=True)
    return container.pack(KIND, {**head, **sections})


def _shape(value, path) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise CodecError(f"tensor {path!r}: shape must be a list of non-negative integers")
    return tuple(value)


def _unpack(payload: bytes, what: str):
    try:
        # unpackb never allocates beyond what its input holds: every msgpack element takes
        # at least one byte, so a forged length fails as truncated data.
        return msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as error:  # msgpack raises several unrelated types for bad bytes
        raise CodecError(f"model {what} is not valid MessagePack: {error}") from error


def _decode_codebook(path, payload, centroids, frequencies, count, shape) -> np.ndarray:
    try:
        centroids = np.asarray(centroids, dtype=np.float32).reshape(-1)
        table = _codebook_table(np.asarray(frequencies, dtype=np.float32))
    except (ValueError, TypeError) as error:
        raise CodecError(f"tensor {path!r}: bad codebook ({error})") from error
    if centroids.size != table.size or not np.all(np.isfinite(centroids)):
        raise CodecError(f"tensor {path!r}: codebook sizes differ or centroids are not finite")
    index = _rans_decode(payload, table, count) if count else np.zeros(0, np.int64)
    return centroids[np.asarray(index, np.int64)].reshape(shape)


def _decode_grouped(path, payload: bytes, groups, shape) -> np.ndarray:
    if not shape or not isinstance(groups, list) or not 1 <= len(groups) <= max(shape[-1], 1):
        raise CodecError(f"tensor {path!r}: malformed groups for shape {shape}")
    bounds = group_bounds(shape[-1], len(groups))
    rows = math.prod(shape[:-1])
    segments, parsed = [], []
    for (start, stop), group in zip(bounds, groups, strict=True):
        if not isinstance(group, list) or len(group) != 4:
            raise CodecError(f"tensor {path!r}: a group entry must be [step, lo, alphabet, prior]")
        step, lo, alphabet, description = group
        if not isinstance(step, float) or not math.isfinite(step):
            raise CodecError(f"tensor {path!r}: group step must be a finite float")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, alphabet)):
            raise CodecError(f"tensor {path!r}: group range and alphabet must be integers")
        if not 1 <= alphabet <= 1 << 24:
            raise CodecError(f"tensor {path!r}: group alphabet {alphabet} out of range")
        count = rows * (stop - start)
        try:
            table = _prior_table(_prior_from_list(description), lo, lo + alphabet - 1)
        except (ValueError, TypeError) as error:
            raise CodecError(f"tensor {path!r}: bad prior ({error})") from error
        segments.append((table, count))
        parsed.append((start, stop, step, lo))
    decoded = _rans_decode_segments(payload, segments)
    values = np.zeros((rows, shape[-1]), np.float32)
    for (start, stop, step, lo), symbols in zip(parsed, decoded, strict=True):
        part = (symbols.astype(np.int64) + lo).astype(np.float32) * np.float32(step)
        values[:, start:stop] = part.reshape(rows, stop - start)
    return values.reshape(shape)


def _decode_sparse(path, payload: bytes, rate, flag_bytes, count: int, shape) -> np.ndarray:
    if not isinstance(rate, float) or not 0 <= rate <= 1 or not isinstance(flag_bytes, int):
        raise CodecError(f"tensor {path!r}: keep rate must be in [0, 1], flag bytes an integer")
    if not 0 <= flag_bytes <= len(payload):
        raise CodecError(
            f"tensor {path!r}: {flag_bytes} flag bytes in a {len(payload)}-byte payload"
        )
    rate32 = float(np.float32(rate))
    if 0 < rate32 < 1:
        flags = _rans_decode(payload[:flag_bytes], np.array([1 - rate32, rate32]), count)
    elif flag_bytes:
        raise CodecError(f"tensor {path!r}: a keep rate of {rate} needs no flag bytes")
    else:
        flags = np.full(count, int(rate32 == 1.0), dtype=np.int64)
    kept = payload[flag_bytes:]
    if len(kept) != 4 * int(np.sum(flags)):
        raise CodecError(f"tensor {path!r}: {len(kept)} value bytes for {int(np.sum(flags))} kept")
    values = np.zeros(count, np.float32)
    values[np.asarray(flags) == 1] = np.frombuffer(kept, dtype="<f4")
    return values.reshape(shape)


def decode_model(data: bytes) -> tuple[dict[str, np.ndarray], dict | None]:
    """Read a model file: ``({path: float32 weights}, arch or None)``. CodecError on bad bytes."""
    sections = container.unpack(data, KIND)
    (meta_payload,) = container.require(sections, "META")
    meta = _unpack(meta_payload, "metadata")
    arch = _unpack(sections["ARCH"], "architecture") if "ARCH" in sections else None
    if not isinstance(meta, list):
        raise CodecError("model metadata must be a list of tensors")
    weights = {}
    total = 0
    for index, entry in enumerate(meta):
        if not isinstance(entry, list) or len(entry) < 3 or not isinstance(entry[0], str):
            raise CodecError(f"tensor entry {index} is malformed")
        path, shape = entry[0], _shape(entry[1], entry[0])
        count = math.prod(shape)
        total += count
        if total > MAX_SYMBOLS:
            raise CodecError(f"model declares more than {MAX_SYMBOLS} parameters")
        (payload,) = container.require(sections, _tag(index))
        if entry[2] == "f" and len(entry) == 3:
            if len(payload) != 4 * count:
                raise CodecError(
                    f"tensor {path!r}: {len(payload)} bytes for {count} float32 values"
                )
            weights[path] = np.frombuffer(payload, dtype="<f4").astype(np.float32).reshape(shape)
        elif entry[2] == "q" and len(entry) == 7:
            step, lo, alphabet, prior_description = entry[3:]
            if not isinstance(step, float) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in (lo, alphabet)
            ):
                raise CodecError(
                    f"tensor {path!r}: step must be a float, range and alphabet integers"
                )
            if not math.isfinite(step) or not 1 <= alphabet <= 1 << 24:
                raise CodecError(f"tensor {path!r}: step or alphabet out of range")
            try:
                prior = _prior_from_list(prior_description)
                table = _prior_table(prior, lo, lo + alphabet - 1) if count else None
            except (ValueError, TypeError) as error:
                raise CodecError(f"tensor {path!r}: bad prior ({error})") from error
            symbols = _rans_decode(payload, table, count) + lo if count else np.zeros(0, np.int64)
            if symbols.size and (symbols.min() < lo or symbols.max() > lo + alphabet - 1):
                raise CodecError(f"tensor {path!r}: decoded bins outside the declared range")
            weights[path] = (symbols.astype(np.float32) * np.float32(step)).reshape(shape)
        elif entry[2] == "g" and len(entry) == 4:
            weights[path] = _decode_grouped(path, payload, entry[3], shape)
        elif entry[2] == "c" and len(entry) == 5:
            weights[path] = _decode_codebook(path, payload, entry[3], entry[4], count, shape)
        elif entry[2] == "s" and len(entry) == 5:
            weights[path] = _decode_sparse(path, payload, entry[3], entry[4], count, shape)
        else:
            raise CodecError(f"tensor {path!r}: unknown entry kind {entry[2]!r}")
    if len(sections) != len(meta) + 1 + ("ARCH" in sections):
        raise CodecError("model file holds sections that its metadata does not describe")
    return weights, arch
