"""Symbol streams made real with rANS, and data given a model.

``encode_symbols(symbols, model)`` writes integer symbols to bytes with an asymmetric numeral
system coder (`mdl.codec.rans`, on ``constriction``: Duda, "Asymmetric numeral systems",
2013; Bamler, "Understanding entropy coding with asymmetric numeral systems", 2022). The file's
size is the information content ``-sum log2 p(symbol)`` plus at most a few words of coder
state, plus the container header. A ``model`` is one of

* a probability vector ``[K]``: every symbol i.i.d. over ``0..K-1``;
* a probability matrix ``[n, K]``: symbol ``i`` under row ``i`` (labels given a model);
* a discretized prior from ``mdl.codes.priors``: integer symbols of any sign, coded with
  the prior's pmf on the range ``[min, max]`` of the symbols (stored in the file), the mass
  outside it kept in an escape entry, so each symbol costs its ``-log2 P(k)``.

The decoder is given the same model. A CRC-32 of the symbols travels in the file, so decoding
against a different model raises `CodecError` instead of returning wrong symbols.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

from mdl.codec import container, rans
from mdl.codec.errors import CodecError
from mdl.codec.rans import MAX_ALPHABET, MAX_SYMBOLS
from mdl.codes.priors import is_prior
from mdl.validation import check_integer_array

__all__ = [
    "MAX_ALPHABET",
    "MAX_SYMBOLS",
    "LabelChunkDecoder",
    "decode_labels",
    "decode_symbols",
    "encode_label_chunks",
    "encode_labels",
    "encode_symbols",
    "information_bits",
    "label_chunk_sections",
]

_CRC = struct.Struct("<I")


def checksum(coded: np.ndarray, alphabet: int) -> int:
    """CRC-32 of coded symbols (``0..alphabet-1``) as the narrowest unsigned integers that hold
    them: a quarter of the bytes of int32 for labels, so the check costs little next to coding."""
    width = "<u1" if alphabet <= 1 << 8 else "<u2" if alphabet <= 1 << 16 else "<u4"
    return zlib.crc32(np.ascontiguousarray(coded, dtype=width))


def _table(model, name: str):
    """A vector model as a normalized float64 table, a matrix as `rans.Rows`."""
    if isinstance(model, rans.Rows):
        return model
    ndim = np.ndim(model)
    if ndim == 2:
        return rans.Rows(model, name)
    if ndim > 2:
        raise ValueError(
            f"{name} must be a vector [K] or matrix [n, K]; got shape {np.shape(model)}"
        )
    return rans.vector_table(model, name)


def _prepare(symbols, model, *, name: str, model_name: str = "model"):
    """Validate ``symbols`` against ``model``; returns (symbols int64, table, offset)."""
    values = check_integer_array(np.asarray(symbols), name).astype(np.int64, copy=False)
    if is_prior(model):
        if values.size == 0:
            return values, np.ones(1), 0
        lo, hi = int(values.min()), int(values.max())
        return values, rans.prior_table(model, lo, hi), lo
    table = _table(model, model_name)
    if isinstance(table, rans.Rows) and (values.ndim != 1 or values.shape[0] != len(table)):
        raise ValueError(
            f"{name} must have shape [{len(table)}] to match model rows {table.shape}; "
            f"got {values.shape}"
        )
    num_symbols = rans.alphabet(table)
    # One pass: as unsigned, negative symbols are huge, so the maximum finds them too.
    if values.size and values.view(np.uint64).max() >= num_symbols:
        raise ValueError(
            f"{name} must lie in [0, {num_symbols}) for a model over {num_symbols} symbols; "
            f"got range [{values.min()}, {values.max()}]"
        )
    return values, table, 0


def _encode(kind: str, symbols, model, name: str, model_name: str = "model") -> bytes:
    values, table, offset = _prepare(symbols, model, name=name, model_name=model_name)
    # Every coded symbol lies in [0, alphabet), alphabet <= 2^24: int32 is what the coder reads.
    coded = (values.reshape(-1) - offset if offset else values.reshape(-1)).astype(np.int32)
    alphabet = rans.alphabet(table)
    # META: varints (ndim, *shape, offset, alphabet) then the symbols' CRC-32; a dozen bytes,
    # because for small streams (a test set's labels) every header byte is a visible cost.
    meta = container.varints([values.ndim, *values.shape, offset, alphabet])
    meta += _CRC.pack(checksum(coded, alphabet))
    return container.pack(kind, {"META": meta, "RANS": rans.encode([(coded, table)])})


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


def _decoding_table(model, offset: int, alphabet: int, count: int, model_name: str):
    if is_prior(model):
        if alphabet < 2:
            raise CodecError(f"a prior-coded stream has an escape entry; alphabet {alphabet}")
        try:
            return rans.prior_table(model, offset, offset + alphabet - 2)
        except ValueError as error:
            raise CodecError(f"the stream's range does not fit the prior ({error})") from error
    table = _table(model, model_name)
    if rans.alphabet(table) != alphabet or offset != 0:
        raise CodecError(
            f"stream was coded over {alphabet} symbols, the model given has {rans.alphabet(table)}"
        )
    if isinstance(table, rans.Rows) and len(table) != count:
        raise CodecError(f"stream holds {count} symbols, the model has {len(table)} rows")
    return table


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
        coded = np.zeros(0, dtype=np.int32)
        if words:
            raise CodecError("an empty stream has no coded words, but some are present")
    else:
        table = _decoding_table(model, offset, alphabet, count, model_name)
        (coded,) = rans.decode(words, [(table, count)])
    if checksum(coded, alphabet) != crc:
        raise CodecError(
            "decoded symbols fail their checksum: the model differs from the encoder's"
        )
    symbols = coded.astype(np.int64)
    if offset:
        symbols += offset
    return symbols.reshape(shape)


def encode_symbols(symbols, model) -> bytes:
    r"""Code integer ``symbols`` (any shape) against ``model`` into an mdl container (kind SYMS).

    The file's length in bits, $8 \cdot$ ``len(bytes)``, is the information content
    $\sum_i -\log_2 P(s_i)$ plus the rANS coder's state and sentinel and the container's
    header and checksums (tested: within 64 bits plus 0.1%, besides the header).

    Args:
      symbols: integers, any shape.
      model: a probability vector ``[K]``, a matrix ``[n, K]`` (one row per symbol, then
        ``symbols`` has shape ``[n]``), or a discretized prior (``mdl.codes.priors``).

    Returns:
      The file's bytes.

    References:
      J. Duda, "Asymmetric numeral systems", 2013 (rANS; coded by the ``constriction``
      package).
    """
    return _encode("SYMS", symbols, model, "symbols")


def decode_symbols(data: bytes, model, *, max_symbols: int = MAX_SYMBOLS) -> np.ndarray:
    """Inverse of `encode_symbols` given the same ``model``.

    Args:
      data: the bytes of `encode_symbols`.
      model: the encoder's model (vector, matrix or discretized prior).
      max_symbols: refuse a stream that declares more symbols than this.

    Returns:
      The symbols, int64, of the coded shape.

    Raises:
      CodecError: for truncated or corrupted bytes, more than ``max_symbols`` symbols, or a
        model other than the encoder's (caught by the symbols' CRC-32).

    References:
      J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    return _decode("SYMS", data, model, max_symbols)


def information_bits(symbols, model) -> float:
    r"""The information content of ``symbols`` under ``model``, in bits: the ideal file size.

    $\sum_i -\log_2 P(s_i)$ in float64, with $P$ the normalized table the coder uses (for a
    prior, its pmf on the symbols' range with the escape entry); `encode_symbols`'s file is
    this plus the coder's few words and the container's header.

    Args:
      symbols: integers, any shape.
      model: as in `encode_symbols`.

    Returns:
      Bits (a Python float); 0 for no symbols.

    References:
      C. E. Shannon, "A mathematical theory of communication", Bell System Technical
      Journal, 1948.
    """
    values, table, offset = _prepare(symbols, model, name="symbols")
    flat = values.reshape(-1) - offset
    if flat.size == 0:
        return 0.0
    if isinstance(table, rans.Rows):
        probs = table.normalized()[np.arange(flat.size), flat]
    else:
        probs = table[flat]
    return float(-np.sum(np.log2(probs)))


def _label_rows(probs, name: str = "probs") -> rans.Rows:
    return rans.Rows(probs, name)


def encode_labels(probs, labels, *, kind: str = "LABL") -> bytes:
    r"""Code class ``labels`` ``[n]`` given a model's predictive ``probs`` ``[n, K]`` (kind LABL).

    This is $L(D \mid \text{params})$ made real: the file's $8 \cdot$ ``len(bytes)`` bits
    exceed $\sum_i -\log_2 p_i(y_i)$ by the coder's few words and the container header.

    Args:
      probs: predictive probabilities ``[n, K]``; rows must sum to one (to 1e-4).
      labels: integer classes ``[n]`` in ``[0, K)``.
      kind: what the labels are (the binary labels of `mdl.codec.targets` are ``"BERN"``),
        so a file of one kind is never read as another.

    Returns:
      The file's bytes; `decode_labels` reads them back given the same ``probs``.

    References:
      J. Rissanen, "Modeling by shortest data description", 1978 (the data part of a two-part
      code); J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    return _encode(kind, labels, _label_rows(probs), "labels", "probs")


def decode_labels(probs, data: bytes, *, kind: str = "LABL") -> np.ndarray:
    """Inverse of `encode_labels` given the same ``probs``.

    Args:
      probs: the encoder's predictive probabilities ``[n, K]``.
      data: the bytes of `encode_labels`.
      kind: the container kind the labels were written with.

    Returns:
      int64 labels ``[n]``.

    Raises:
      CodecError: for truncated or corrupted bytes, another kind, or ``probs`` other than the
        encoder's (caught by the labels' CRC-32).

    References:
      J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    return _decode(kind, data, _label_rows(probs), MAX_SYMBOLS, "probs")


# --- Labels in chunks, one stream ---------------------------------------------------------
# An online (prequential) code learns the next chunk's probabilities from the chunks decoded
# before it, so the decoder must be able to stop after each chunk. One rANS stream serves:
# the writer pushes the last chunk first, and the reader pops the chunks in order, asking the
# caller for each chunk's probabilities. One container and one coder state for all chunks: a
# dozen chunks cost a few words of overhead instead of a dozen headers.


def encode_label_chunks(chunks) -> bytes:
    r"""Code ``[(probs [n_i, K], labels [n_i]), ...]`` in one stream (kind LABC).

    The data part of a prequential code made real: chunk $i$'s labels are coded under the
    probabilities of a model trained on the chunks before it, so the file's
    $8 \cdot$ ``len(bytes)`` bits are $\sum_i \sum_j -\log_2 p_{ij}(y_{ij})$ plus one coder
    state, the chunk sizes, a CRC-32 and the container's header. `LabelChunkDecoder` reads
    it back chunk by chunk.

    Args:
      chunks: ``(probs, labels)`` pairs, at least one, all over the same ``K`` classes.

    Returns:
      The file's bytes.

    References:
      L. Blier, Y. Ollivier, "The description length of deep learning models", NeurIPS
      2018 (prequential codes); J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    return container.pack("LABC", label_chunk_sections(chunks))


def label_chunk_sections(chunks) -> dict[str, bytes]:
    """The META and RANS sections of `encode_label_chunks`, for formats that embed them
    in a container of their own (one header instead of two)."""
    segments = []
    for i, (probs, labels) in enumerate(chunks):
        values, table, _ = _prepare(
            labels, _label_rows(probs, f"probs {i}"), name=f"labels of chunk {i}"
        )
        if segments and table.shape[1] != segments[0][1].shape[1]:
            raise ValueError(
                f"chunk {i} has {table.shape[1]} classes, chunk 0 has {segments[0][1].shape[1]}"
            )
        segments.append((values.astype(np.int32), table))
    if not segments:
        raise ValueError("chunks is empty; give at least one (probs, labels) pair")
    alphabet = rans.alphabet(segments[0][1])
    labels = np.concatenate([values for values, _ in segments])
    meta = container.varints([len(segments), *[len(v) for v, _ in segments], alphabet])
    meta += _CRC.pack(checksum(labels, alphabet))
    return {"META": meta, "RANS": rans.encode(segments)}


class LabelChunkDecoder:
    """Decodes `encode_label_chunks`'s bytes (or the sections of
    `label_chunk_sections`) chunk by chunk: ``decode(probs)`` returns the next chunk's
    labels; ``finish()`` checks that the stream ended cleanly and the checksum.

    The prequential decoder: it needs each chunk's probabilities only when it reaches that
    chunk, so they may come from a model trained on the chunks already decoded.

    Args:
      data: the bytes of `encode_label_chunks`, or a dict of its META and RANS sections.
      max_symbols: refuse a stream that declares more labels than this.

    Raises:
      CodecError: for truncated, corrupted or forged bytes (on construction, ``decode`` or
        ``finish``), or probabilities other than the encoder's (at ``finish``).

    References:
      L. Blier, Y. Ollivier, "The description length of deep learning models", NeurIPS
      2018 (prequential codes); J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """

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
        self._reader = rans.Reader(words)
        self._decoded: list[np.ndarray] = []

    @property
    def next_size(self) -> int | None:
        """How many labels the next chunk holds (None when all are decoded)."""
        done = len(self._decoded)
        return self.sizes[done] if done < len(self.sizes) else None

    def decode(self, probs) -> np.ndarray:
        """The next chunk's labels (int64 ``[next_size]``), decoded with its predictive
        ``probs`` ``[next_size, K]``; CodecError when every chunk is decoded already or the
        bytes do not match."""
        size = self.next_size
        if size is None:
            raise CodecError("all chunks are already decoded")
        table = _label_rows(probs)
        if table.shape != (size, self.alphabet):
            raise ValueError(
                f"chunk {len(self._decoded)} needs probs of shape "
                f"({size}, {self.alphabet}); got {table.shape}"
            )
        labels = self._reader.pop(table, size)
        self._decoded.append(labels)
        return labels.astype(np.int64)

    def finish(self) -> np.ndarray:
        """All labels, after checking the sentinel, the stream's end and the checksum."""
        if self.next_size is not None:
            raise CodecError(f"{len(self.sizes) - len(self._decoded)} chunks are not decoded yet")
        self._reader.finish()
        labels = np.concatenate(self._decoded)
        if checksum(labels, self.alphabet) != self._crc:
            raise CodecError("decoded labels fail their checksum: probs differ from the encoder's")
        return labels.astype(np.int64)
