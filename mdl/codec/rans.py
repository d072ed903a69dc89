"""The one rANS writer and reader behind every mdl stream (internal to `mdl.codec`).

Every coded stream in mdl (symbols, labels, label chunks, every tensor of a model file) is one
``constriction`` ANS stack (Duda 2013; Bamler 2022: 32-bit words, 24-bit probabilities) made
here, so the rules below hold for all of them:

* **Segments.** A stream is a list of ``(symbols, table)`` segments, decoded in order: rANS is
  a stack, so `encode` pushes the last segment first. A table is a probability vector
  ``[K]`` (every symbol of the segment i.i.d.) or `Rows` ``[n, K]`` (symbol ``i`` under
  row ``i``). A one-symbol table or an empty segment costs nothing; a stream of only such
  segments is empty.
* **Sentinel.** constriction starts from state 0, where likely symbols cost almost nothing
  until the state has grown, so a stream could be far shorter than its information content.
  Two fixed 16-bit symbols, pushed first (popped last), lift the state above 2^31 before any
  data; they cost 32 bits and are checked at the end with the stream's emptiness.
* **Floor.** Because of the sentinel, the words are never shorter than the information
  content less the coder's 64-bit head, and every symbol costs at least ``-log2 max p`` bits
  (1% slack for the coder's quantized probabilities): `Reader` refuses a vector
  segment the remaining bytes cannot hold before decoding it (and `decode` all of a
  stream's vector segments before decoding any), so a forged count is never allocated.
  Rows are the caller's memory already; their floor (over every 32nd row) is checked after
  each block, so a forged count fails within a block of the bytes running out.
* **Streaming.** `Reader` pops one segment at a time (``pop``), so a decoder can ask for
  the next segment's table only when it gets there (online codes); ``finish`` checks the
  sentinel and that nothing is left.

Per-row tables are validated (finite, non-negative, rows summing to one) block by block as
the coder reads them, on blocks that fit in the cache, and handed to constriction as they are:
constriction normalizes each row itself, so the code is a deterministic function of the given
float64 values and no normalized copy is ever made.
"""

from __future__ import annotations

import math

import constriction
import jax
import numpy as np

from mdl.codec.errors import CodecError
from mdl.codes.priors import probability_table

MAX_ALPHABET = 1 << 24  # constriction's 24-bit probabilities cannot give more symbols room
MAX_SYMBOLS = 1 << 27  # decoders refuse to allocate more than this unless asked
# A prior's table is evaluated over (bins x mixture components) float64 values at once: more
# than this (2 GiB of temporaries) is refused rather than attempted, by encoder and decoder.
MAX_PRIOR_WORK = 1 << 26

SENTINEL = np.array([0xA5C3, 0x5A3C], dtype=np.int32)
_SENTINEL_MODEL = constriction.stream.model.Uniform(1 << 16)
_ROWS = constriction.stream.model.Categorical(perfect=False)  # a family: one table per symbol
BLOCK_ELEMENTS = 1 << 17  # 1 MiB of float64: a block of rows stays in the cache
_FLOOR_STRIDE = 32  # the floor of rows is taken over every 32nd row: a lower bound still
_SLACK = 0.99  # the floor may undercut the real size by the coder's probability quantization
_HEAD_BITS = 64  # the coder's state words are not information


def _normalized(table: np.ndarray) -> np.ndarray:
    return table / table.sum(axis=-1, keepdims=True)


def vector_table(probs, name: str = "model") -> np.ndarray:
    """A probability vector ``[K]`` checked (finite, non-negative, sums to one within 1e-4) and
    normalized in float64: the table of an i.i.d. segment."""
    values = _real_array(probs, name)
    if values.ndim != 1:
        raise ValueError(f"{name} must be a vector [K]; got shape {values.shape}")
    _check_alphabet(values.shape[-1], name)
    table = values.astype(np.float64)
    _check_block(table[None], name, np.ones(table.size))
    return _normalized(table)


def prior_table(prior, lo: int, hi: int) -> np.ndarray:
    """The table of bins ``lo..hi`` under a discretized prior, plus an escape entry.

    The mass outside ``[lo, hi]`` goes to the escape entry (never coded) instead of being
    renormalized away: every bin then costs exactly ``-log2 P(k)`` under the prior, the
    number the training objective used, rather than a little less.
    """
    size = hi - lo + 1
    if size > MAX_ALPHABET:
        raise ValueError(
            f"symbols span {size} bins (from {lo} to {hi}); a prior-coded stream holds at "
            f"most {MAX_ALPHABET}"
        )
    components = max((np.size(leaf) for leaf in jax.tree.leaves(prior)), default=1)
    if size * components > MAX_PRIOR_WORK:
        raise ValueError(
            f"a prior of {components} components over {size} bins is {size * components} "
            f"evaluations; at most {MAX_PRIOR_WORK}"
        )
    table = probability_table(prior, lo, hi)
    if not np.all(np.isfinite(table)) or table.sum() <= 0:
        raise ValueError("prior gives no finite probability mass on the symbols' range")
    escape = max(1.0 - float(table.sum()), 0.0)
    return _normalized(np.append(table, escape))


def _real_array(probs, name: str) -> np.ndarray:
    values = np.asarray(probs)
    if values.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real-valued array; got dtype {values.dtype}")
    if values.ndim == 0 or values.shape[-1] < 1:
        raise ValueError(
            f"{name} must have a non-empty last (symbol) axis; got shape {values.shape}"
        )
    return values


def _check_alphabet(alphabet: int, name: str) -> None:
    if alphabet > MAX_ALPHABET:
        raise ValueError(f"{name} has {alphabet} symbols; at most {MAX_ALPHABET} are supported")


def _check_block(block: np.ndarray, name: str, ones: np.ndarray, atol: float = 1e-4):
    """The checks of `mdl.validation.check_probabilities` in two passes over a block
    (its minimum, and its row sums by a matrix-vector product), reading it again only for the
    message when something is wrong. Returns the row sums."""
    low = block.min() if block.size else 0.0  # NaN propagates
    if not low >= 0:
        if not np.all(np.isfinite(block)):
            raise ValueError(f"{name} must be finite; got NaN or infinite probabilities")
        raise ValueError(f"{name} must be non-negative; got minimum {low.item()!r}")
    sums = block @ ones
    if sums.size and not (sums.min() >= 1.0 - atol and sums.max() <= 1.0 + atol):
        if not np.all(np.isfinite(block)):
            raise ValueError(f"{name} must be finite; got NaN or infinite probabilities")
        worst = np.max(np.abs(sums - 1.0))
        raise ValueError(
            f"{name} must sum to 1 along its last axis (tolerance {atol}); "
            f"got a sum that is off by {worst:.3g}"
        )
    return sums


class Rows:
    """Per-symbol probability rows ``[n, K]`` (symbol ``i`` under row ``i``): shape and dtype
    are checked here, the values block by block, right after the coder has read each block
    (so the block is still in the cache; a bad block fails before the next one is coded)."""

    def __init__(self, probs, name: str = "probs"):
        values = _real_array(probs, name)
        if values.ndim != 2:
            raise ValueError(f"{name} must have shape [n, K]; got {values.shape}")
        _check_alphabet(values.shape[1], name)
        self.values, self.name, self.shape = values, name, values.shape
        self._ones = np.ones(values.shape[1])
        self._block_rows = max(1, BLOCK_ELEMENTS // values.shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    def blocks(self, *, reverse: bool = False):
        """``(start, stop, block)``: cache-sized blocks of rows as C-contiguous float64
        (constriction reads raw memory), unchecked."""
        starts = range(0, len(self), self._block_rows)
        for start in reversed(starts) if reverse else starts:
            stop = min(start + self._block_rows, len(self))
            yield start, stop, np.ascontiguousarray(self.values[start:stop], dtype=np.float64)

    def check(self, block: np.ndarray) -> np.ndarray:
        """The block's row sums, or ValueError naming what is wrong with its values."""
        return _check_block(block, self.name, self._ones)

    def floor_bits(self, block: np.ndarray, sums: np.ndarray) -> float:
        """A lower bound on the bits of a block's symbols: ``-log2`` of the largest normalized
        probability of every ``_FLOOR_STRIDE``-th row (a sample keeps it cheap)."""
        sample = block[::_FLOOR_STRIDE]
        best = sample.max(axis=1) / sums[::_FLOOR_STRIDE]
        return -float(np.sum(np.log(best))) / math.log(2)

    def check_all(self) -> None:
        """Check every row (for rows nothing is coded with: one class, or no rows)."""
        for _, _, block in self.blocks():
            self.check(block)

    def normalized(self) -> np.ndarray:
        """Every row checked and normalized, as float64 (for information contents)."""
        blocks = [block / self.check(block)[:, None] for _, _, block in self.blocks()]
        return np.concatenate(blocks) if blocks else np.zeros((0, self.shape[1]))


def alphabet(table) -> int:
    return table.shape[-1]


def encode(segments) -> bytes:
    """One rANS stream of ``[(symbols, table), ...]``; ``table`` a normalized float64 vector
    or `Rows` (one row per symbol). Symbols must lie in the table's range."""
    coded = [(s, t) for s, t in segments if alphabet(t) > 1 and np.size(s)]
    for _, table in segments:
        if isinstance(table, Rows) and alphabet(table) == 1:
            table.check_all()
    if not coded:
        return b""
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(SENTINEL, _SENTINEL_MODEL)
    for symbols, table in reversed(coded):
        symbols = np.ascontiguousarray(symbols, dtype=np.int32).reshape(-1)
        if isinstance(table, Rows):
            for start, stop, block in table.blocks(reverse=True):
                try:
                    coder.encode_reverse(symbols[start:stop], _ROWS, block)
                except Exception:  # rows constriction cannot normalize: say what is wrong
                    table.check(block)
                    raise
                table.check(block)
        else:
            model = constriction.stream.model.Categorical(table, perfect=False)
            coder.encode_reverse(symbols, model)
    return coder.get_compressed().astype("<u4").tobytes()


def _floor_bits(table: np.ndarray, count: int) -> float:
    """Fewest bits ``count`` symbols take under a normalized vector: ``-log2 max p`` each."""
    return count * -float(np.log2(table.max()))


class Reader:
    """Pops the segments of `encode`'s bytes in order; ``finish()`` checks the end."""

    def __init__(self, payload: bytes):
        if len(payload) % 4:
            raise CodecError(
                f"coded words are {len(payload)} bytes, not a whole number of 32-bit words"
            )
        self._bytes = len(payload)
        self._spent = 0.0
        self._coded = False
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self._coder = constriction.stream.stack.AnsCoder(words) if len(payload) else None

    def check_floor(self, bits: float, count: int) -> None:
        """Refuse ``count`` more symbols of at least ``bits`` in all, if the bytes cannot hold
        them on top of what was decoded already."""
        if _SLACK * (self._spent + bits) > 8 * self._bytes + _HEAD_BITS:
            raise CodecError(
                f"stream declares {count} more symbols than its {self._bytes} bytes can hold"
            )

    def _spend(self, bits: float, count: int) -> None:
        self.check_floor(bits, count)
        self._spent += bits

    def pop(self, table, count: int) -> np.ndarray:
        """The next ``count`` symbols (int32) under ``table`` (a vector, or `Rows` of
        ``count`` rows)."""
        if alphabet(table) == 1 or not count:
            if isinstance(table, Rows):
                table.check_all()
            return np.zeros(count, dtype=np.int32)
        if self._coder is None:
            raise CodecError("the stream holds no coded words, but symbols are declared")
        self._coded = True
        if isinstance(table, Rows):
            symbols = np.empty(count, dtype=np.int32)
            for start, stop, block in table.blocks():
                try:
                    symbols[start:stop] = self._decode(_ROWS, block)
                except CodecError:  # bad rows are the caller's error, not the stream's
                    table.check(block)
                    raise
                self._spend(table.floor_bits(block, table.check(block)), stop - start)
            return symbols
        self._spend(_floor_bits(table, count), count)
        return self._decode(constriction.stream.model.Categorical(table, perfect=False), count)

    def _decode(self, model, argument) -> np.ndarray:
        try:
            return np.asarray(self._coder.decode(model, argument), dtype=np.int32)
        except Exception as error:  # constriction reports invalid states with assorted types
            raise CodecError(f"rANS stream cannot be decoded: {error}") from error

    def finish(self) -> None:
        """Check the sentinel and that the stream ends exactly here."""
        if self._coder is None:
            return
        if not self._coded:
            raise CodecError(
                "a stream of one-symbol alphabets has no coded words, but some are here"
            )
        sentinel = self._decode(_SENTINEL_MODEL, len(SENTINEL))
        if not np.array_equal(sentinel, SENTINEL) or not self._coder.is_empty():
            raise CodecError(
                "rANS stream does not end where it should: wrong model, count or bytes"
            )


def decode(payload: bytes, segments) -> list[np.ndarray]:
    """Inverse of `encode` given ``[(table, count), ...]``: int32 symbols per segment.
    The vector segments' floor is checked before anything is decoded."""
    reader = Reader(payload)
    vectors = [(t, c) for t, c in segments if not isinstance(t, Rows) and alphabet(t) > 1]
    reader.check_floor(sum(_floor_bits(t, c) for t, c in vectors), sum(c for _, c in vectors))
    decoded = [reader.pop(table, count) for table, count in segments]
    reader.finish()
    return decoded
