"""Binary metadata of mdl files: a checked reader, float32 fields and priors (internal).

Metadata is bytes, not a self-describing format: small files (a model of a few kilobytes, a
test set's labels) are where every header byte shows. Integers are zigzag varints
(`mdl.codec.container.varints`), reals little-endian float32 (every real a compressor
stores is a float32 already), and a prior is written once, the same way in every file:

    prior = family byte, then per field of the family's NamedTuple, in order:
            a nested prior (``slab``, ``components``), or a varint count n (1..256) and n float32

with family bytes fixed here (never derived from dict order). `Cursor` reads all of it
and checks every length against the bytes present before slicing or allocating, so forged
metadata raises `CodecError`, never a crash or a huge allocation.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codes.priors import PRIOR_FAMILIES, check_prior, is_prior

FAMILIES = ("laplace", "gaussian", "logistic", "mixture", "spike_and_slab", "uniform")
_CLASSES = tuple(PRIOR_FAMILIES[name] for name in FAMILIES)
MAX_PARAMETER_VALUES = 256  # a mixture's components; more is refused, by writer and reader
_MAX_DEPTH = 4
_F32 = struct.Struct("<f")


def f32(value) -> bytes:
    return _F32.pack(np.float32(value))


def f32s(values) -> bytes:
    return np.asarray(values, np.float32).astype("<f4").tobytes()


def prior_bytes(prior) -> bytes:
    """The one binary form of a prior from `mdl.codes.priors` (float32 parameters)."""
    if type(prior) not in _CLASSES:
        raise TypeError(f"prior must be one of {sorted(FAMILIES)}; got {type(prior).__name__}")
    out = bytearray([_CLASSES.index(type(prior))])
    for field, value in zip(prior._fields, prior, strict=True):
        if is_prior(value):
            out += prior_bytes(value)
            continue
        values = np.asarray(value, np.float32).reshape(-1)
        if not 1 <= values.size <= MAX_PARAMETER_VALUES:
            raise ValueError(
                f"prior parameter {field!r} has {values.size} values; 1 to "
                f"{MAX_PARAMETER_VALUES} can be stored"
            )
        out += container.varints([values.size]) + f32s(values)
    return bytes(out)


class Cursor:
    """Reads binary metadata front to back; every read checks the bytes present."""

    def __init__(self, payload: bytes, what: str = "metadata"):
        self.payload, self.at, self.what = payload, 0, what
        self.table_entries = 0  # what the tables read so far hold (readers may cap it)

    def _need(self, size: int, field: str) -> None:
        if size < 0 or self.at + size > len(self.payload):
            raise CodecError(f"{self.what} ends inside {field}")

    def byte(self, field: str = "a kind byte") -> int:
        self._need(1, field)
        self.at += 1
        return self.payload[self.at - 1]

    def varint(self) -> int:
        (value,), self.at = container.read_varints(self.payload, 1, self.at)
        return value

    def count(self, field: str, low: int, high: int) -> int:
        """A varint that must lie in ``[low, high]``."""
        value = self.varint()
        if not low <= value <= high:
            raise CodecError(f"{self.what}: {field} is {value}, outside [{low}, {high}]")
        return value

    def f32(self, field: str, *, finite: bool = True) -> np.float32:
        self._need(4, field)
        (value,) = _F32.unpack_from(self.payload, self.at)
        self.at += 4
        if finite and not math.isfinite(value):
            raise CodecError(f"{self.what}: {field} is {value}, not a finite float32")
        return np.float32(value)

    def f32s(self, size: int, field: str) -> np.ndarray:
        self._need(4 * size, field)
        values = np.frombuffer(self.payload, "<f4", size, self.at).astype(np.float32)
        self.at += 4 * size
        return values

    def text(self, field: str, limit: int = 1 << 12) -> str:
        size = self.count(f"the length of {field}", 0, limit)
        self._need(size, field)
        raw = bytes(self.payload[self.at : self.at + size])
        self.at += size
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CodecError(f"{self.what}: {field} is not UTF-8") from error

    def shape(self, field: str = "a shape") -> tuple[int, ...]:
        ndim = self.count(f"the dimensions of {field}", 0, 32)
        return tuple(self.count(f"a side of {field}", 0, 1 << 40) for _ in range(ndim))

    def prior(self, depth: int = 0):
        """A prior written by `prior_bytes`, checked (finite, positive scales...)."""
        code = self.byte("a prior")
        if depth > _MAX_DEPTH or code >= len(_CLASSES):
            raise CodecError(f"{self.what}: unknown or too deeply nested prior family {code}")
        family = _CLASSES[code]
        values = []
        for field in family._fields:
            if field in ("slab", "components"):
                values.append(self.prior(depth + 1))
                continue
            size = self.count(f"prior parameter {field!r}'s length", 1, MAX_PARAMETER_VALUES)
            value = self.f32s(size, f"prior parameter {field!r}")
            values.append(value[0] if size == 1 else value)
        prior = family(*values)
        try:
            check_prior(prior)
        except (ValueError, TypeError) as error:
            raise CodecError(f"{self.what}: invalid prior parameters ({error})") from None
        return prior

    def end(self) -> None:
        if self.at != len(self.payload):
            raise CodecError(
                f"{self.what} holds {len(self.payload) - self.at} bytes more than it describes"
            )
