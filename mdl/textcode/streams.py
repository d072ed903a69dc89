"""A text as ``B`` interleaved streams: one batched model step serves ``B`` positions.

A recurrent model predicts one symbol after another, so coding ``N`` symbols one at a time is
``N`` dependent steps, each too small to keep a CPU busy. Cut into ``B`` contiguous segments
of ``L = ceil(N / B)`` symbols (the last ones shorter), the text becomes a ``[B, L]`` grid whose
column ``t`` holds position ``t`` of every segment: ``L`` batched steps instead of ``N``
(Bellard's NNCP codes its input the same way). Segment ``b`` is row ``b``; the streams still
going at step ``t`` are always a prefix ``0..active(t)-1`` of the rows, because segments only
get shorter towards the end.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class Streams(NamedTuple):
    """The layout of ``n`` symbols as ``streams`` rows of ``length`` (see the module doc)."""

    n: int
    streams: int
    length: int

    @classmethod
    def of(cls, n: int, streams: int) -> Streams:
        if n < 0 or streams < 1:
            raise ValueError(f"need n >= 0 and streams >= 1; got n={n}, streams={streams}")
        streams = max(1, min(streams, n))
        return cls(n, streams, math.ceil(n / streams) if n else 0)

    def grid(self, symbols: np.ndarray) -> np.ndarray:
        """``symbols [n]`` as the ``[streams, length]`` grid (padding positions hold 0)."""
        padded = np.zeros(self.streams * self.length, np.int32)
        padded[: self.n] = symbols
        return padded.reshape(self.streams, self.length)

    def flat(self, grid: np.ndarray) -> np.ndarray:
        """Inverse of `grid`: the ``n`` symbols in text order."""
        return np.asarray(grid, np.int32).reshape(-1)[: self.n]

    def active(self, t: int) -> int:
        """How many streams have a symbol at step ``t`` (a prefix of the rows)."""
        return int(np.clip((self.n - t + self.length - 1) // max(self.length, 1), 0, self.streams))

    def mask(self, start: int, stop: int) -> np.ndarray:
        """``[streams, stop - start]`` booleans: which grid positions of steps
        ``start..stop-1`` hold a symbol of the text."""
        positions = np.arange(self.streams)[:, None] * self.length + np.arange(start, stop)[None]
        return (positions < self.n) & (np.arange(start, stop)[None] < self.length)
