"""Finalized tensors (leaves) and their one code, shared by both model formats.

A compressor's ``finalize`` turns each tensor into a leaf: integers plus side information.
Every leaf type registers one `LeafCodec` here, and both model formats (self-describing
MODL files, `mdl.codec.model`; template-bound MODC files, `mdl.codec.compact`) write
every leaf through it, so both hold every leaf type. A leaf's code has three parts:

* metadata (`mdl.codec.meta`): a kind byte, then the leaf's own fields;
* segments of the file's one rANS stream (`mdl.codec.rans`): all tensors share one coder
  state and one sentinel;
* float32 values (kept at full precision) appended to the file's RAWF section.

=========  =============  ==========================================  =======================
kind byte  leaf           metadata after the kind byte                stream / float32 values
=========  =============  ==========================================  =======================
0          RawLeaf        (none)                                      - / every value
1          QuantizedLeaf  bins: step, lo, alphabet, prior             bins under the prior / -
2          GroupedLeaf    groups G, then G bins (prior byte 255:      each group's bins / -
                          the previous group's prior again)
3          SparseLeaf     kept count k                                n flags, Bernoulli(k/n)
                                                                      / the k kept values
4          CodebookLeaf   K, K centroids, K counts                    indices under counts/n
                                                                      / -
5          LowRankLeaf    rank r, then the bins of the left factor    both factors' bins / -
                          [m, r] and of the right factor [r, n]
6          LiveBlockLeaf  G steps, live rows r, live columns c, lo,   row flags, column flags,
                          alphabet, prior                             the live block's bins
                                                                      under the prior / -
=========  =============  ==========================================  =======================

A live-block leaf is a kernel ``[..., m, n]`` (``m`` input units, ``n`` output units) whose
dead units are named once instead of paying a zero bin per weight: which of the ``m`` rows
(input units) and ``n`` columns (output units) hold any nonzero bin, as flags coded i.i.d.
Bernoulli(``r / m``) and Bernoulli(``c / n``) (``m h2(r / m) + n h2(c / n)`` bits, none when all
or none are live), then only the ``prod(shape[:-2]) r c`` bins where a live row meets a live
column, under the prior. A pruned network's kernels are mostly dead units (a LeNet-5 trained at
beta 0.18 keeps 2,885 of fc1's 400,000 weights, in a few rows and columns): coding their zeros
one by one under a tensor-wide spike is most of such a file.

A low-rank leaf (a LoRA delta) decodes to the product of its factors computed exactly: the
integer bins multiply in int64, and the float32 product is ``float32(K_a @ K_b) * (s_a *
s_b)``, one correctly rounded multiply per entry, so any decoder gets the encoder's bits
(a float matmul would round differently on different machines).

"bins" is a step (float32), the bins' range as ``lo`` and ``alphabet = hi - lo + 1`` (varints)
and the prior (`mdl.codec.meta.prior_bytes`); the bins are coded with the prior's pmf on
``[lo, hi]`` plus an escape entry for the mass outside (evaluated in float64 from the float32
parameters), so each bin costs the ``-log2 P(k)`` the training objective charged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from mdl.codec import meta, rans
from mdl.codec.container import varints
from mdl.codec.errors import CodecError


class QuantizedLeaf(NamedTuple):
    """A tensor as integer bins ``symbols`` times ``step``, coded with ``prior``."""

    symbols: np.ndarray  # int64, the tensor's shape
    step: np.float32
    prior: Any  # a prior from mdl.codes.priors, parameters as float32


class RawLeaf(NamedTuple):
    """A tensor kept at float32 (charged 32 bits per scalar)."""

    values: np.ndarray


class SparseLeaf(NamedTuple):
    """A pruned tensor: which entries are nonzero (flags coded as i.i.d. Bernoulli(k / n),
    ``n h2(k / n)`` bits, within ``O(log n)`` of ``log2 C(n, k)``), the kept count ``k`` and
    the kept values at float32 (32 bits each): `mdl.codes.sparse.sparse_leaf_bits`."""

    values: np.ndarray  # float32, the tensor's shape, zeros where pruned


class CodebookLeaf(NamedTuple):
    """A tensor of shared values: ``centroids[index]``; the indices are coded with their
    empirical frequencies (the counts are stored), the centroids kept at float32."""

    index: np.ndarray  # int64, the tensor's shape, values in [0, K)
    centroids: np.ndarray  # float32 [K]


class LowRankLeaf(NamedTuple):
    """A tensor of shape ``shape`` as the product of two quantized factors: with
    ``m = prod(shape[:-1])`` and ``n = shape[-1]``, ``left`` holds ``[m, r]`` bins and
    ``right`` ``[r, n]`` bins, and the tensor is ``(k_left @ k_right) * (step_left *
    step_right)`` reshaped, the integer product exact (module doc)."""

    left: QuantizedLeaf
    right: QuantizedLeaf
    shape: tuple[int, ...]


class LiveBlockLeaf(NamedTuple):
    """A quantized kernel ``[..., m, n]`` coded as its live block (module doc): bins
    ``symbols``, the step of each of ``len(steps)`` contiguous groups of the last axis
    (`group_bounds`; one group: one step), every bin of the live block coded with ``prior``."""

    symbols: np.ndarray  # int64, the tensor's shape, ndim >= 2
    steps: np.ndarray  # float32 [G]
    prior: Any  # a prior from mdl.codes.priors, parameters as float32


def live_units(nonzero):
    """``(rows, columns)``: which input units (axis -2) and output units (axis -1) of a kernel
    ``[..., m, n]`` hold any nonzero entry (``nonzero``: a boolean array of that shape, numpy
    or jax, so the file and the quantizer's rate name the same units)."""
    ndim = nonzero.ndim
    rows = nonzero.any(axis=tuple(a for a in range(ndim) if a != ndim - 2))
    return rows, nonzero.any(axis=tuple(range(ndim - 1)))


def live_block(symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, columns, block)``: a kernel's live units (`live_units`) and its bins where a
    live row meets a live column, ``[..., r, c]``: what a `LiveBlockLeaf` codes."""
    symbols = np.asarray(symbols)
    rows, columns = live_units(symbols != 0)
    return rows, columns, symbols[..., rows, :][..., columns]


def low_rank_product(left_bins, right_bins, left_step, right_step, shape) -> np.ndarray:
    """``float32(left_bins @ right_bins) * (left_step * right_step)`` reshaped to ``shape``:
    the integer product in int64 (exact), then one float32 multiply per entry by the float32
    product of the steps. The decoder's values, and `mdl.compress.lora`'s hard weights."""
    product = np.asarray(left_bins, np.int64) @ np.asarray(right_bins, np.int64)
    scale = np.float32(left_step) * np.float32(right_step)
    return (product.astype(np.float32) * scale).reshape(shape)


class GroupedLeaf(NamedTuple):
    """A tensor quantized per group of its last axis (output units): the channels are cut into
    ``len(steps)`` contiguous groups (`group_bounds`), group ``g`` is ``symbols[...,
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


# --- The registry ---------------------------------------------------------------------------


class Encoded(NamedTuple):
    """A leaf's code: its metadata, its segments of the stream, its float32 bytes."""

    meta: bytes
    segments: list  # [(symbols, table), ...]
    raw: bytes


class Plan(NamedTuple):
    """What decoding a leaf needs: its segments' ``(table, count)``, how many float32 bytes it
    takes, and ``build(decoded segments, its float32 bytes) -> float32 values`` (any shape)."""

    segments: list
    raw_bytes: int
    build: Callable[[list, bytes], np.ndarray]


class LeafCodec(NamedTuple):
    kind: int
    leaf_type: type
    encode: Callable[[Any, str], Encoded]  # (leaf, where) -> Encoded
    read: Callable[[meta.Cursor, tuple, str], Plan]  # (cursor, shape, where) -> Plan


# Tables of prior-coded bins are evaluated in float64 and held until the stream is decoded:
# a file's tables together may hold this many entries (256 MiB), for writer and reader alike,
# so forged alphabets cannot exhaust memory.
MAX_TABLE_ENTRIES = 1 << 25

_BY_TYPE: dict[type, LeafCodec] = {}
_BY_KIND: dict[int, LeafCodec] = {}


def register(codec: LeafCodec) -> None:
    """Make a leaf type writable by both model formats (kind bytes are the file format)."""
    if codec.kind in _BY_KIND or codec.leaf_type in _BY_TYPE or not 0 <= codec.kind < 255:
        raise ValueError(f"kind {codec.kind} or type {codec.leaf_type.__name__} is taken")
    _BY_TYPE[codec.leaf_type] = _BY_KIND[codec.kind] = codec


def encode_leaf(leaf, where: str) -> Encoded:
    codec = _BY_TYPE.get(type(leaf))
    if codec is None:
        names = ", ".join(sorted(t.__name__ for t in _BY_TYPE))
        raise TypeError(f"{where} must be one of {names}; got {type(leaf).__name__}")
    return codec.encode(leaf, where)


def read_leaf(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    kind = cursor.byte(f"the kind of {where}")
    if kind not in _BY_KIND:
        raise CodecError(f"{where}: unknown leaf kind {kind}")
    return _BY_KIND[kind].read(cursor, shape, where)


def leaf_shape(leaf) -> tuple[int, ...]:
    """The shape of the tensor a leaf describes."""
    if isinstance(leaf, LowRankLeaf):
        return tuple(leaf.shape)
    return np.shape(leaf[0])


def encode_body(encoded: Sequence[Encoded]) -> dict[str, bytes]:
    """The RANS (one stream for all leaves) and RAWF sections, each left out when empty."""
    segments = [segment for e in encoded for segment in e.segments]
    entries = sum(rans.alphabet(table) for _, table in segments)
    if entries > MAX_TABLE_ENTRIES:
        raise ValueError(
            f"the tensors' tables hold {entries} entries in all; a file holds at most "
            f"{MAX_TABLE_ENTRIES} (bins spanning a narrower range)"
        )
    words = rans.encode(segments)
    raw = b"".join(e.raw for e in encoded)
    return {name: part for name, part in (("RANS", words), ("RAWF", raw)) if part}


def decode_body(plans: Sequence[Plan], sections: dict) -> list[np.ndarray]:
    """Inverse of `encode_body` given every leaf's `Plan`, in order."""
    raw = sections.get("RAWF", b"")
    if sum(plan.raw_bytes for plan in plans) != len(raw):
        raise CodecError(
            f"the float32 section has {len(raw)} bytes; the metadata describes "
            f"{sum(plan.raw_bytes for plan in plans)}"
        )
    decoded = iter(rans.decode(sections.get("RANS", b""), [s for p in plans for s in p.segments]))
    values, at = [], 0
    for plan in plans:
        parts = [next(decoded) for _ in plan.segments]
        values.append(plan.build(parts, raw[at : at + plan.raw_bytes]))
        at += plan.raw_bytes
    return values


def _floats(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, "<f4").astype(np.float32)


def _finite(values, where: str, what: str = "values") -> np.ndarray:
    values = np.asarray(values, np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{where} holds NaN or infinite {what}")
    return values


# --- Bins under a prior: QuantizedLeaf and each group of a GroupedLeaf -----------------------

_SAME_PRIOR = 255  # in place of a family byte: the previous group's prior again


def _bins_segment(symbols: np.ndarray, prior) -> tuple[int, int, tuple]:
    """``(lo, alphabet, segment)``: the range of bins ``symbols`` (flat int64) and their
    segment under ``prior``'s pmf on that range (`rans.prior_table`)."""
    lo = int(symbols.min()) if symbols.size else 0
    hi = int(symbols.max()) if symbols.size else 0
    table = rans.prior_table(prior, lo, hi) if symbols.size else np.ones(1)
    return lo, hi - lo + 1, (symbols - lo, table)


def _bins_table(cursor: meta.Cursor, prior, lo: int, alphabet: int, count: int, where: str):
    """The table a reader decodes ``count`` bins in ``[lo, lo + alphabet)`` with (None when
    there are none), counted against the file's ``MAX_TABLE_ENTRIES``."""
    if not count:
        return None
    cursor.table_entries += alphabet + 1
    if cursor.table_entries > MAX_TABLE_ENTRIES:
        raise CodecError(f"{where}: the tables of the file exceed {MAX_TABLE_ENTRIES} entries")
    try:
        return rans.prior_table(prior, lo, lo + alphabet - 1)
    except (ValueError, TypeError) as error:
        raise CodecError(f"{where}: bad prior ({error})") from error


def _encode_bins(symbols: np.ndarray, step, prior, where: str, previous: bytes | None = None):
    """(metadata, segment, the prior's bytes) of bins ``symbols`` (flat int64)."""
    lo, alphabet, segment = _bins_segment(symbols, prior)
    blob = meta.prior_bytes(prior)
    head = meta.f32(_finite(step, where, "step")) + varints([lo, alphabet])
    return head + (bytes([_SAME_PRIOR]) if blob == previous else blob), segment, blob


def _read_bins(cursor: meta.Cursor, count: int, where: str, previous=None):
    """(step, lo, alphabet, table, prior) of `_encode_bins`' metadata."""
    step = cursor.f32(f"the step of {where}")
    lo = cursor.varint()
    alphabet = cursor.count(f"the alphabet of {where}", 1, rans.MAX_ALPHABET)
    if previous is not None and cursor.payload[cursor.at : cursor.at + 1] == bytes([_SAME_PRIOR]):
        cursor.at += 1
        prior = previous
    else:
        prior = cursor.prior()
    return step, lo, alphabet, _bins_table(cursor, prior, lo, alphabet, count, where), prior


def _bins_values(symbols: np.ndarray, lo: int, alphabet: int, step, where: str) -> np.ndarray:
    if symbols.size and symbols.max() >= alphabet:  # the escape entry is never coded
        raise CodecError(f"{where}: decoded bins outside the declared range")
    return (symbols.astype(np.int64) + lo).astype(np.float32) * np.float32(step)


def _encode_quantized(leaf: QuantizedLeaf, where: str) -> Encoded:
    symbols = np.asarray(leaf.symbols, np.int64).reshape(-1)
    head, segment, _ = _encode_bins(symbols, leaf.step, leaf.prior, where)
    return Encoded(head, [segment], b"")


def _read_quantized(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    count = math.prod(shape)
    step, lo, alphabet, table, _ = _read_bins(cursor, count, where)

    def build(parts, raw):
        symbols = parts[0] if count else np.zeros(0, np.int32)
        return _bins_values(symbols, lo, alphabet, step, where).reshape(shape)

    return Plan([(table, count)] if count else [], 0, build)


def _encode_grouped(leaf: GroupedLeaf, where: str) -> Encoded:
    symbols = np.asarray(leaf.symbols, np.int64)
    steps = np.asarray(leaf.steps, np.float32).reshape(-1)
    if symbols.ndim < 1 or len(leaf.priors) != steps.size:
        raise ValueError(f"{where}: a grouped tensor needs an axis and one prior per step")
    head, segments, previous = bytearray(varints([steps.size])), [], None
    for (start, stop), step, prior in zip(
        group_bounds(symbols.shape[-1], steps.size), steps, leaf.priors, strict=True
    ):
        part, segment, previous = _encode_bins(
            symbols[..., start:stop].reshape(-1), step, prior, where, previous
        )
        head += part
        segments.append(segment)
    return Encoded(bytes(head), segments, b"")


def _read_grouped(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    if not shape:
        raise CodecError(f"{where}: a grouped tensor needs an axis")
    groups = cursor.count(f"the groups of {where}", 1, max(shape[-1], 1))
    bounds = group_bounds(shape[-1], groups)
    rows = math.prod(shape[:-1])
    segments, parsed, prior = [], [], None
    for start, stop in bounds:
        step, lo, alphabet, table, prior = _read_bins(cursor, rows * (stop - start), where, prior)
        parsed.append((start, stop, step, lo, alphabet))
        if rows * (stop - start):
            segments.append((table, rows * (stop - start)))

    def build(parts, raw):
        decoded = iter(parts)
        values = np.zeros((rows, shape[-1]), np.float32)
        for start, stop, step, lo, alphabet in parsed:
            if rows * (stop - start):
                part = _bins_values(next(decoded), lo, alphabet, step, where)
                values[:, start:stop] = part.reshape(rows, stop - start)
        return values.reshape(shape)

    return Plan(segments, 0, build)


# --- SparseLeaf: flags, kept count, kept values -------------------------------------------------


def _flag_table(kept: int, count: int) -> np.ndarray:
    return np.array([count - kept, kept], np.float64) / count


def _encode_sparse(leaf: SparseLeaf, where: str) -> Encoded:
    values = _finite(leaf.values, where).reshape(-1)
    flags = values != 0
    kept = int(np.count_nonzero(flags))
    segments = []
    if 0 < kept < values.size:
        segments.append((flags.astype(np.int32), _flag_table(kept, values.size)))
    return Encoded(varints([kept]), segments, values[flags].astype("<f4").tobytes())


def _read_sparse(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    count = math.prod(shape)
    kept = cursor.count(f"the kept count of {where}", 0, count)
    coded = 0 < kept < count

    def build(parts, raw):
        if coded:
            flags = parts[0].astype(bool)
            if np.count_nonzero(flags) != kept:
                raise CodecError(f"{where}: {np.count_nonzero(flags)} flags set, {kept} declared")
        else:
            flags = np.full(count, kept == count)
        values = np.zeros(count, np.float32)
        values[flags] = _floats(raw)
        return values.reshape(shape)

    return Plan([(_flag_table(kept, count), count)] if coded else [], 4 * kept, build)


# --- CodebookLeaf: centroids, counts, indices ----------------------------------------------------


def _encode_codebook(leaf: CodebookLeaf, where: str) -> Encoded:
    index = np.asarray(leaf.index, np.int64).reshape(-1)
    centroids = _finite(leaf.centroids, where, "centroids").reshape(-1)
    if not 1 <= centroids.size <= rans.MAX_ALPHABET:
        raise ValueError(f"{where}: a codebook holds 1 to {rans.MAX_ALPHABET} centroids")
    if index.size and (index.min() < 0 or index.max() >= centroids.size):
        raise ValueError(f"{where}: indices must lie in [0, {centroids.size})")
    counts = np.bincount(index, minlength=centroids.size)
    head = varints([centroids.size]) + meta.f32s(centroids) + varints(counts)
    segments = [(index, counts / index.size)] if index.size else []
    return Encoded(head, segments, b"")


def _read_codebook(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    count = math.prod(shape)
    # Every centroid takes at least five bytes of metadata: a forged size fails as truncated.
    size = cursor.count(f"the centroids of {where}", 1, rans.MAX_ALPHABET)
    centroids = cursor.f32s(size, f"the centroids of {where}")
    counts = np.array([cursor.count(f"a count of {where}", 0, count) for _ in range(size)])
    if not np.all(np.isfinite(centroids)) or counts.sum() != count:
        raise CodecError(f"{where}: centroids are not finite or counts do not sum to {count}")

    def build(parts, raw):
        index = parts[0] if count else np.zeros(0, np.int32)
        if not np.array_equal(np.bincount(index, minlength=size), counts):
            raise CodecError(f"{where}: decoded indices do not match the stored counts")
        return centroids[index].reshape(shape)

    return Plan([(counts / count, count)] if count else [], 0, build)


# --- LowRankLeaf: rank, then two factors' bins -------------------------------------------------


def _matrix_sides(shape: tuple) -> tuple[int, int]:
    """``(m, n)``: the tensor as an ``[m, n]`` matrix, ``n`` its last axis."""
    return (math.prod(shape[:-1]), shape[-1]) if shape else (1, 1)


def _encode_low_rank(leaf: LowRankLeaf, where: str) -> Encoded:
    m, n = _matrix_sides(tuple(leaf.shape))
    left = np.asarray(leaf.left.symbols, np.int64)
    right = np.asarray(leaf.right.symbols, np.int64)
    rank = left.shape[-1] if left.ndim == 2 else -1
    if left.shape != (m, rank) or right.shape != (rank, n) or not 1 <= rank <= min(m, n):
        raise ValueError(
            f"{where}: a rank-r tensor of shape {tuple(leaf.shape)} needs factors [{m}, r] and "
            f"[r, {n}] with 1 <= r <= {min(m, n)}; got {left.shape} and {right.shape}"
        )
    head_left, segment_left, _ = _encode_bins(
        left.reshape(-1), leaf.left.step, leaf.left.prior, where
    )
    head_right, segment_right, _ = _encode_bins(
        right.reshape(-1), leaf.right.step, leaf.right.prior, where
    )
    return Encoded(varints([rank]) + head_left + head_right, [segment_left, segment_right], b"")


def _read_low_rank(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    m, n = _matrix_sides(shape)
    if m * n == 0:
        raise CodecError(f"{where}: a low-rank tensor cannot be empty (shape {shape})")
    rank = cursor.count(f"the rank of {where}", 1, min(m, n))
    sides = []
    for rows, cols in ((m, rank), (rank, n)):
        step, lo, alphabet, table, _ = _read_bins(cursor, rows * cols, where)
        sides.append((rows, cols, step, lo, alphabet, table))

    def build(parts, raw):
        bins = []
        for (rows, cols, _, lo, alphabet, _), symbols in zip(sides, parts, strict=True):
            if symbols.size and symbols.max() >= alphabet:  # the escape entry is never coded
                raise CodecError(f"{where}: decoded bins outside the declared range")
            bins.append((symbols.astype(np.int64) + lo).reshape(rows, cols))
        return low_rank_product(bins[0], bins[1], sides[0][2], sides[1][2], shape)

    return Plan([(table, rows * cols) for rows, cols, _, _, _, table in sides], 0, build)


# --- LiveBlockLeaf: groups' steps, live units, the live block's bins -------------------------


def _encode_live_block(leaf: LiveBlockLeaf, where: str) -> Encoded:
    symbols = np.asarray(leaf.symbols, np.int64)
    steps = _finite(leaf.steps, where, "steps").reshape(-1)
    if symbols.ndim < 2:
        raise ValueError(f"{where}: a live-block tensor needs two axes; got shape {symbols.shape}")
    m, n = symbols.shape[-2:]
    group_bounds(n, steps.size)  # refuses more groups than output units
    rows, columns, block = live_block(symbols)
    r, c = int(rows.sum()), int(columns.sum())
    block = block.reshape(-1)
    segments = [
        (flags.astype(np.int32), _flag_table(live, size))
        for flags, live, size in ((rows, r, m), (columns, c, n))
        if 0 < live < size
    ]
    lo, alphabet, segment = _bins_segment(block, leaf.prior)
    if block.size:
        segments.append(segment)
    head = varints([steps.size]) + meta.f32s(steps) + varints([r, c, lo, alphabet])
    return Encoded(head + meta.prior_bytes(leaf.prior), segments, b"")


def _read_live_block(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    if len(shape) < 2:
        raise CodecError(f"{where}: a live-block tensor needs two axes; got shape {shape}")
    m, n = shape[-2:]
    lead = math.prod(shape[:-2])
    groups = cursor.count(f"the groups of {where}", 1, max(n, 1))
    steps = cursor.f32s(groups, f"the steps of {where}")
    if not np.all(np.isfinite(steps)):
        raise CodecError(f"{where}: the steps are not finite")
    r = cursor.count(f"the live rows of {where}", 0, m)
    c = cursor.count(f"the live columns of {where}", 0, n)
    lo = cursor.varint()
    alphabet = cursor.count(f"the alphabet of {where}", 1, rans.MAX_ALPHABET)
    prior = cursor.prior()
    count = lead * r * c
    segments = [
        (_flag_table(live, size), size) for live, size in ((r, m), (c, n)) if 0 < live < size
    ]
    if count:
        segments.append((_bins_table(cursor, prior, lo, alphabet, count, where), count))

    def build(parts, raw):
        parts = iter(parts)
        live = []
        for declared, size in ((r, m), (c, n)):
            flags = next(parts).astype(bool) if 0 < declared < size else np.full(size, declared > 0)
            if np.count_nonzero(flags) != declared:
                raise CodecError(
                    f"{where}: {np.count_nonzero(flags)} units flagged live, {declared} declared"
                )
            live.append(flags)
        values = np.zeros((lead, m, n), np.float32)
        if count:
            bins = _bins_values(next(parts), lo, alphabet, np.float32(1), where)
            values[np.ix_(np.arange(lead), *live)] = bins.reshape(lead, r, c)
        scale = steps[group_index(n, groups)]
        return (values * scale).reshape(shape)

    return Plan(segments, 0, build)


# --- RawLeaf -------------------------------------------------------------------------------------


def _encode_raw(leaf: RawLeaf, where: str) -> Encoded:
    return Encoded(b"", [], _finite(leaf.values, where).astype("<f4").tobytes())


def _read_raw(cursor: meta.Cursor, shape: tuple, where: str) -> Plan:
    return Plan([], 4 * math.prod(shape), lambda parts, raw: _floats(raw).reshape(shape))


def _with_kind(kind: int, encode):
    def encode_with_kind(leaf, where: str) -> Encoded:
        code = encode(leaf, where)
        return code._replace(meta=bytes([kind]) + code.meta)

    return encode_with_kind


for _kind, _type, _encode, _read in (
    (0, RawLeaf, _encode_raw, _read_raw),
    (1, QuantizedLeaf, _encode_quantized, _read_quantized),
    (2, GroupedLeaf, _encode_grouped, _read_grouped),
    (3, SparseLeaf, _encode_sparse, _read_sparse),
    (4, CodebookLeaf, _encode_codebook, _read_codebook),
    (5, LowRankLeaf, _encode_low_rank, _read_low_rank),
    (6, LiveBlockLeaf, _encode_live_block, _read_live_block),
):
    register(LeafCodec(_kind, _type, _with_kind(_kind, _encode), _read))
