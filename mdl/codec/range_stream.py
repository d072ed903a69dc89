"""A first-in first-out stream of symbols, each under its own probability row: the coder of
online codes, whose decoder learns as it reads.

rANS (`mdl.codec.rans`) is a stack: the encoder must hold every probability row until the
end and push them in reverse, 4.3 million rows of 73 float64 for a text, 2.5 GB. A range
coder (``constriction.stream.queue``; Martin, "Range encoding", 1979; Bamler 2022 for this
implementation: 32-bit words, 24-bit probabilities) is a queue: rows are coded as they are
made and dropped, and the decoder pops symbols in the same order, so a model that trains on
what it has decoded (the online text code) needs memory for one step only.

`RowWriter.write(symbols, probs)` codes ``symbols [m]`` under ``probs [m, K]`` (float64, rows
summing to one); `RowReader.read(probs)` returns the next ``m`` symbols. Both sides must pass
the same rows, which is the caller's contract (the text code computes them with the same
compiled function on the same machine type and records what it ran on). The reader refuses to
decode past what its bytes can hold: every symbol costs at least ``-log2 max p`` bits, so a
forged length fails within one step of the bytes running out, never a long loop over garbage.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

from mdl.codec.errors import CodecError
from mdl.codec.rans import _HEAD_BITS, _SLACK  # the same floor as every rANS stream

_FAMILY = constriction.stream.model.Categorical(perfect=False)


def _rows(probs, count: int) -> np.ndarray:
    rows = np.ascontiguousarray(probs, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] != count:
        raise ValueError(f"probs must have shape [{count}, K]; got {rows.shape}")
    if not np.all(np.isfinite(rows)) or rows.min(initial=0.0) < 0:
        raise ValueError("probs must be finite and non-negative")
    return rows


class RowWriter:
    """Codes symbols under per-symbol rows, first in first out; ``finish()`` gives the bytes."""

    def __init__(self):
        self._encoder = constriction.stream.queue.RangeEncoder()
        self.count = 0

    def write(self, symbols, probs) -> None:
        values = np.ascontiguousarray(symbols, dtype=np.int32).reshape(-1)
        rows = _rows(probs, values.size)
        if values.size == 0:
            return
        if values.min() < 0 or values.max() >= rows.shape[1]:
            raise ValueError(f"symbols must lie in [0, {rows.shape[1]})")
        if rows.shape[1] > 1:
            self._encoder.encode(values, _FAMILY, rows)
        self.count += values.size

    def finish(self) -> bytes:
        return self._encoder.get_compressed().astype("<u4").tobytes()


class RowReader:
    """Reads `RowWriter`'s bytes back, given the same rows in the same order."""

    def __init__(self, payload: bytes):
        if len(payload) % 4:
            raise CodecError(f"range-coded words are {len(payload)} bytes, not whole 32-bit words")
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self._decoder = constriction.stream.queue.RangeDecoder(words)
        self._budget = 8 * len(payload) + _HEAD_BITS
        self._spent = 0.0

    def read(self, probs) -> np.ndarray:
        """The next ``len(probs)`` symbols (int32)."""
        rows = _rows(probs, np.shape(probs)[0])
        if rows.shape[0] == 0 or rows.shape[1] == 1:
            return np.zeros(rows.shape[0], dtype=np.int32)
        best = rows.max(axis=1) / rows.sum(axis=1)
        self._spent += -float(np.sum(np.log(best))) / math.log(2)
        if _SLACK * self._spent > self._budget:
            raise CodecError("the range-coded stream ends before the symbols it declares")
        try:
            return np.asarray(self._decoder.decode(_FAMILY, rows), dtype=np.int32)
        except Exception as error:  # constriction reports invalid states with assorted types
            raise CodecError(f"range-coded stream cannot be decoded: {error}") from error
