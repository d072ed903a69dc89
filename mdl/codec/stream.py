"""Symbol streams made real with rANS (the ``constriction`` package), and data given a model.

``encode_symbols(symbols, model)`` writes integer symbols to bytes with an asymmetric numeral
system coder (Duda, "Asymmetric numeral systems", 2013; Bamler, "Understanding entropy coding
with asymmetric numeral systems", 2022, for the ``constriction`` implementation: 32-bit words,
24-bit probabilities). The file's size is the information content ``-sum log2 p(symbol)``
plus at most a few words of coder state, plus the container header. A ``model`` is one of

* a probability vector ``[K]``: every symbol i.i.d. over ``0..K-1``;
* a probability matrix ``[n, K]``: symbol ``i`` under row ``i`` (labels given a model);
* a discretized prior from ``mdl.codes.priors``: integer symbols of any sign, coded with
  the prior's pmf on the range ``[min, max]`` of the symbols (stored in the file), the mass
  outside it kept in an escape entry, so each symbol costs its ``-log2 P(k)``.

The decoder is given the same model. A CRC-32 of the symbols travels in the file, so decoding
against a different model raises :class:`CodecError` instead of returning wrong symbols.
"""

from __future__ import annotations

import math
import struct
import zlib

import constriction
import numpy as np

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codes.priors import is_prior, probability_table
from mdl.validation import check_integer_array, check_probabilities

MAX_ALPHABET = 1 << 24  # constriction's 24-bit probabilities cannot give more symbols room
MAX_SYMBOLS = 1 << 27  # decoder refuses to allocate more than this unless asked
_CRC = struct.Struct("<I")


def _symbols_crc(symbols: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(symbols, dtype="<i8").tobytes())


def _normalized(table: np.ndarray) -> np.ndarray:
    return table / table.sum(axis=-1, keepdims=True)


def _prior_table(prior, lo: int, hi: int) -> np.ndarray:
    if hi - lo + 1 > MAX_ALPHABET:
        raise ValueError(
            f"symbols span {hi - lo + 1} bins (from {lo} to {hi}); a prior-coded stream "
            f"holds at most {MAX_ALPHABET}"
        )
    table = probability_table(prior, lo, hi)
    if not np.all(np.isfinite(table)) or table.sum() <= 0:
        raise ValueError("prior gives no finite probability mass on the symbols' range")
    # The mass outside [lo, hi] goes to an escape entry that is never coded, instead of being
    # renormalized away: every bin then costs exactly -log2 P(k) under the prior, the number
    # the training objective used, rather than a little less.
    escape = max(1.0 - float(table.sum()), 0.0)
    return _normalized(np.append(table, escape))


def _model_table(model, name: str = "model") -> np.ndarray:
    table = check_probabilities(model, name)
    if table.ndim > 2:
        raise ValueError(f"{name} must be a vector [K] or matrix [n, K]; got shape {table.shape}")
    if table.shape[-1] > MAX_ALPHABET:
        raise ValueError(
            f"{name} has {table.shape[-1]} symbols; at most {MAX_ALPHABET} are supported"
        )
    return _normalized(table)


# rANS in constriction starts from state 0, where symbols cost almost nothing until the state
# has grown (x' = x + cumulative frequency while x is below the symbol's frequency): a stream of
# likely symbols can then be far shorter than its information content, and a decoder could not
# bound a declared count by the bytes present. Two fixed 16-bit sentinel symbols, coded first
# (so decoded last), lift the state above 2^31 before any data; they cost 32 bits and are
# checked on decoding.
_SENTINEL = np.array([0xA5C3, 0x5A3C], dtype=np.int32)
_SENTINEL_MODEL = constriction.stream.model.Uniform(1 << 16)


def _rans_encode(symbols: np.ndarray, table: np.ndarray) -> bytes:
    return _rans_encode_segments([(symbols, table)])


def _rans_encode_segments(segments) -> bytes:
    """One rANS stream of several ``(symbols, table)`` segments, decodable in order (the last
    segment is pushed first: rANS is a stack). A table of one symbol costs nothing."""
    coded = [(s, t) for s, t in segments if t.shape[-1] > 1 and np.size(s)]
    if not coded:
        return b""
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(_SENTINEL, _SENTINEL_MODEL)
    for symbols, table in reversed(coded):
        symbols = np.ascontiguousarray(symbols, dtype=np.int32)
        if table.ndim == 1:
            model = constriction.stream.model.Categorical(table, perfect=False)
            coder.encode_reverse(symbols, model)
        else:
            family = constriction.stream.model.Categorical(perfect=False)
            coder.encode_reverse(symbols, family, np.ascontiguousarray(table))
    return coder.get_compressed().astype("<u4").tobytes()


def _rans_decode(payload: bytes, table: np.ndarray, count: int) -> np.ndarray:
    return _rans_decode_segments(payload, [(table, count)])[0]


def _rans_decode_segments(payload: bytes, segments) -> list[np.ndarray]:
    """Inverse of :func:`_rans_encode_segments` given ``[(table, count), ...]``."""
    coded = [(t, c) for t, c in segments if t.shape[-1] > 1 and c]
    if not coded:
        if payload:
            raise CodecError("a one-symbol alphabet carries no coded words, but some are present")
        return [np.zeros(c, dtype=np.int32) for _, c in segments]
    # Every symbol costs at least -log2(max p) bits and, with the state lifted by the
    # sentinel, the output is never shorter than the information content less the coder's
    # 64-bit head: refuse counts the bytes cannot hold before allocating them (1% slack for
    # the coder's quantized probabilities).
    floor_bits = 0.0
    for table, count in coded:
        floor = -np.log2(table.max(axis=-1))
        floor_bits += floor.sum() if table.ndim == 2 else count * floor
    if 0.99 * floor_bits > 8 * len(payload) + 64:
        total = sum(c for _, c in coded)
        raise CodecError(
            f"stream declares {total} symbols, more than its {len(payload)} bytes can hold"
        )
    if len(payload) % 4:
        raise CodecError(
            f"coded words are {len(payload)} bytes, not a whole number of 32-bit words"
        )
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoded = []
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        for table, count in segments:
            if table.shape[-1] == 1 or not count:
                decoded.append(np.zeros(count, dtype=np.int32))
            elif table.ndim == 1:
                model = constriction.stream.model.Categorical(table, perfect=False)
                decoded.append(np.asarray(coder.decode(model, count), dtype=np.int32))
            else:
                family = constriction.stream.model.Categorical(perfect=False)
                decoded.append(
                    np.asarray(coder.decode(family, np.ascontiguousarray(table)), np.int32)
                )
        sentinel = coder.decode(_SENTINEL_MODEL, len(_SENTINEL))
    except Exception as error:  # constriction reports invalid states with assorted types
        raise CodecError(f"rANS stream cannot be decoded: {error}") from error
    if not np.array_equal(sentinel, _SENTINEL) or not coder.is_empty():
        raise CodecError("rANS stream does not end where it should: wrong model, count or bytes")
    return decoded


def _prepare(
    symbols, model, *, name: str, model_name: str = "model"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate ``symbols`` against ``model``; returns (symbols, table, offset)."""
    values = check_integer_array(np.asarray(symbols), name)
    if is_prior(model):
        if values.size == 0:
            return values.astype(np.int64), np.ones(1), 0
        lo, hi = int(values.min()), int(values.max())
        return values.astype(np.int64), _prior_table(model, lo, hi), lo
    table = _model_table(model, model_name)
    num_symbols = table.shape[-1]
    if table.ndim == 2 and (values.ndim != 1 or values.shape[0] != table.shape[0]):
        raise ValueError(
            f"{name} must have shape [{table.shape[0]}] to match model rows {table.shape}; "
            f"got {values.shape}"
        )
    if values.size and (values.min() < 0 or values.max() >= num_symbols):
        raise ValueError(
            f"{name} must lie in [0, {num_symbols}) for a model over {num_symbols} symbols; "
            f"got range [{values.min()}, {values.max()}]"
        )
    return values.astype(np.int64), table, 0


def _encode(kind: str, symbols, model, name: str, model_name: str = "model") -> bytes:
    values, table, offset = _prepare(symbols, model, name=name, model_name=model_name)
    flat = values.reshape(-1)
    # META: varints (ndim, *shape, offset, alphabet) then the symbols' CRC-32; a dozen bytes,
    # because for small streams (a test set's labels) every header byte is a visible cost.
    meta = container.varints([values.ndim, *values.shape, offset, table.shape[-1]])
    meta += _CRC.pack(_symbols_crc(flat))
    words = _rans_encode(flat - offset, table) if flat.size else b""
    return container.pack(kind, {"META": meta, "RANS": words})


def _read_meta(payload: bytes) -> tuple[list[int], int, int, int]:
    (ndim,), at = container.read_varints(payload, 1)
    if not 0 <= ndim <= 32:
        raise CodecError(f"metadata declares {ndim} dimensions; expected 0 to 32")
    values, at = container.read_varints(payload, ndim + 2, at)
    if len(payload) != at + _CRC.size:
        raise CodecError("metadata section has the wrong length")
    shape, offset, alphabet = values[:ndim], values[ndim], values[ndim + 1]
    if any(d < 0 for d in shape):
        raise CodecError(f"metadata shape must be non-negative; got {shape}")
    return shape, offset, alphabet, _CRC.unpack_from(payload, at)[0]


def _decode(
    kind: str, data: bytes, model, max_symbols: int, model_name: str = "model"
) -> np.ndarray:
    meta_payload, words = container.require(container.unpack(data, kind), "META", "RANS")
    shape, offset, alphabet, crc = _read_meta(meta_payload)
    count = math.prod(shape)
    if count > max_symbols:
        raise CodecError(f"stream declares {count} symbols, more than max_symbols={max_symbols}")
    if not 1 <= alphabet <= MAX_ALPHABET:
        raise CodecError(f"metadata alphabet {alphabet} is outside [1, {MAX_ALPHABET}]")
    if count == 0:
        symbols = np.zeros(0, dtype=np.int64)
    else:
        if is_prior(model):
            if alphabet < 2:
                raise CodecError(f"a prior-coded stream has an escape entry; alphabet {alphabet}")
            table = _prior_table(model, offset, offset + alphabet - 2)
        else:
            table = _model_table(model, model_name)
            if table.shape[-1] != alphabet or offset != 0:
                raise CodecError(
                    f"stream was coded over {alphabet} symbols, "
                    f"the model given has {table.shape[-1]}"
                )
            if table.ndim == 2 and table.shape[0] != count:
                raise CodecError(
                    f"stream holds {count} symbols, the model has {table.shape[0]} rows"
                )
        symbols = _rans_decode(words, table, count).astype(np.int64) + offset
    if _symbols_crc(symbols) != crc:
        raise CodecError(
            "decoded symbols fail their checksum: the model differs from the encoder's"
        )
    return symbols.reshape(shape)


def encode_symbols(symbols, model) -> bytes:
    """Code integer ``symbols`` (any shape) against ``model`` into an mdl container (kind SYMS).

    ``model`` is a probability vector ``[K]``, a matrix ``[n, K]`` (one row per symbol, then
    ``symbols`` has shape ``[n]``), or a discretized prior (``mdl.codes.priors``).
    """
    return _encode("SYMS", symbols, model, "symbols")


def decode_symbols(data: bytes, model, *, max_symbols: int = MAX_SYMBOLS) -> np.ndarray:
    """Inverse of :func:`encode_symbols` given the same ``model``; int64 array of the coded shape.

    Raises CodecError for truncated or corrupted bytes, or a model other than the encoder's.
    """
    return _decode("SYMS", data, model, max_symbols)


def information_bits(symbols, model) -> float:
    """``-sum log2 p(symbol)`` in float64 under the table the coder uses: the ideal size."""
    values, table, offset = _prepare(symbols, model, name="symbols")
    flat = values.reshape(-1) - offset
    if flat.size == 0:
        return 0.0
    probs = table[flat] if table.ndim == 1 else table[np.arange(flat.size), flat]
    return float(-np.sum(np.log2(probs)))


def _label_probs(probs) -> np.ndarray:
    """Shape check only; the table itself is validated and normalized once, in _prepare/_decode."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape [n, K]; got {probs.shape}")
    return probs


def encode_labels(probs, labels) -> bytes:
    """Code class ``labels`` ``[n]`` given a model's predictive ``probs`` ``[n, K]`` (kind LABL).

    This is L(D | params) made real: ``8 * len(bytes)`` exceeds ``sum_i -log2 probs[i, y_i]``
    by the coder's few words and the container header. Rows must sum to one (1e-4).
    """
    return _encode("LABL", labels, _label_probs(probs), "labels", "probs")


def decode_labels(probs, data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_labels` given the same ``probs``; int64 labels ``[n]``."""
    return _decode("LABL", data, _label_probs(probs), MAX_SYMBOLS, "probs")


# --- Labels in chunks, one stream ---------------------------------------------------------
# An online (prequential) code learns the next chunk's probabilities from the chunks decoded
# before it, so the decoder must be able to stop after each chunk. One rANS stream serves:
# rANS is a stack, so the encoder pushes the last chunk first and the first chunk last, and
# the decoder pops the chunks in order, asking the caller for each chunk's probabilities.
# One container and one coder state for all chunks: a dozen chunks cost a few words of
# overhead instead of a dozen headers.


def encode_label_chunks(chunks) -> bytes:
    """Code ``[(probs [n_i, K], labels [n_i]), ...]`` in one stream (kind LABC)."""
    return container.pack("LABC", label_chunk_sections(chunks))


def label_chunk_sections(chunks) -> dict[str, bytes]:
    """The META and RANS sections of :func:`encode_label_chunks`, for formats that embed them
    in a container of their own (one header instead of two)."""
    chunks = [(_model_table(_label_probs(p), "probs"), np.asarray(y)) for p, y in chunks]
    if not chunks:
        raise ValueError("chunks is empty; give at least one (probs, labels) pair")
    alphabet = chunks[0][0].shape[1]
    labels = []
    for i, (table, y) in enumerate(chunks):
        values, _, _ = _prepare(y, table, name=f"labels of chunk {i}", model_name=f"probs {i}")
        if table.shape[1] != alphabet:
            raise ValueError(f"chunk {i} has {table.shape[1]} classes, chunk 0 has {alphabet}")
        labels.append(values)
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(_SENTINEL, _SENTINEL_MODEL)
    if alphabet > 1:
        family = constriction.stream.model.Categorical(perfect=False)
        for (table, _), values in zip(reversed(chunks), reversed(labels), strict=True):
            if values.size:
                coder.encode_reverse(values.astype(np.int32), family, np.ascontiguousarray(table))
    words = coder.get_compressed().astype("<u4").tobytes() if alphabet > 1 else b""
    all_labels = np.concatenate(labels)
    meta = container.varints([len(chunks), *[len(v) for v in labels], alphabet])
    meta += _CRC.pack(_symbols_crc(all_labels))
    return {"META": meta, "RANS": words}


class LabelChunkDecoder:
    """Decodes :func:`encode_label_chunks`'s bytes (or the sections of
    :func:`label_chunk_sections`) chunk by chunk: ``decode(probs)`` returns the next chunk's
    labels; ``finish()`` checks that the stream ended cleanly and the checksum."""

    def __init__(self, data: bytes | dict, *, max_symbols: int = MAX_SYMBOLS):
        sections = data if isinstance(data, dict) else container.unpack(data, "LABC")
        meta, words = container.require(sections, "META", "RANS")
        (count,), at = container.read_varints(meta, 1)
        if not 1 <= count <= 1 << 20:
            raise CodecError(f"stream declares {count} chunks; expected 1 to {1 << 20}")
        values, at = container.read_varints(meta, count + 1, at)
        if len(meta) != at + _CRC.size:
            raise CodecError("label-chunk metadata has the wrong length")
        self.sizes, self.alphabet = values[:count], values[count]
        self._crc = _CRC.unpack_from(meta, at)[0]
        if any(s < 0 for s in self.sizes) or sum(self.sizes) > max_symbols:
            raise CodecError(f"chunk sizes {self.sizes[:8]}... are negative or exceed max_symbols")
        if not 1 <= self.alphabet <= MAX_ALPHABET:
            raise CodecError(f"alphabet {self.alphabet} is outside [1, {MAX_ALPHABET}]")
        if len(words) % 4:
            raise CodecError(f"coded words are {len(words)} bytes, not whole 32-bit words")
        self._words = np.frombuffer(words, dtype="<u4").astype(np.uint32)
        self._coder = constriction.stream.stack.AnsCoder(self._words) if len(words) else None
        self._decoded: list[np.ndarray] = []

    @property
    def next_size(self) -> int | None:
        """How many labels the next chunk holds (None when all are decoded)."""
        done = len(self._decoded)
        return self.sizes[done] if done < len(self.sizes) else None

    def decode(self, probs) -> np.ndarray:
        size = self.next_size
        if size is None:
            raise CodecError("all chunks are already decoded")
        table = _model_table(_label_probs(probs), "probs")
        if table.shape != (size, self.alphabet):
            raise ValueError(
                f"chunk {len(self._decoded)} needs probs of shape "
                f"({size}, {self.alphabet}); got {table.shape}"
            )
        if self.alphabet == 1 or size == 0:
            labels = np.zeros(size, dtype=np.int64)
        else:
            if self._coder is None:
                raise CodecError("the stream holds no coded words")
            try:
                family = constriction.stream.model.Categorical(perfect=False)
                labels = np.asarray(
                    self._coder.decode(family, np.ascontiguousarray(table)), np.int64
                )
            except Exception as error:
                raise CodecError(f"rANS stream cannot be decoded: {error}") from error
        self._decoded.append(labels)
        return labels

    def finish(self) -> np.ndarray:
        """All labels, after checking the sentinel, the stream's end and the checksum."""
        if self.next_size is not None:
            raise CodecError(f"{len(self.sizes) - len(self._decoded)} chunks are not decoded yet")
        if self.alphabet > 1:
            try:
                sentinel = self._coder.decode(_SENTINEL_MODEL, len(_SENTINEL))
            except Exception as error:
                raise CodecError(f"rANS stream cannot be decoded: {error}") from error
            if not np.array_equal(sentinel, _SENTINEL) or not self._coder.is_empty():
                raise CodecError("label stream does not end where it should: wrong probs or bytes")
        labels = np.concatenate(self._decoded)
        if _symbols_crc(labels) != self._crc:
            raise CodecError("decoded labels fail their checksum: probs differ from the encoder's")
        return labels
