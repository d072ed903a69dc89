"""Compact model files: for decoders that already know the architecture.

A model file (``mdl.codec.model``, kind MODL) names every tensor, its shape and its prior in
MessagePack and gives each tensor its own rANS stream: self-describing, about 50 bytes a
tensor. When the decoder knows the architecture already (a two-part code whose structure part
names it, an Occam bound whose configuration index does), those names and shapes are
redundant bits. A compact file (kind MODC) holds only what the template cannot supply:

* META: per tensor, in the template's leaf order, a kind byte (0 float32, 1 quantized) and,
  for quantized tensors, the step (float32), the bin range (zigzag varints) and the prior (a
  family byte, then its parameters: nested priors recursively, arrays as a varint length and
  float32 values);
* RANS: every quantized tensor in one rANS stream (one coder state and sentinel in all);
* RAWF: the float32 tensors' values, concatenated.

``decode_compact(data, template)`` needs the same parameter structure (an ``nnx.split``
state, or any pytree of arrays) and returns weights in its shape, bit for bit.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codec.model import _FAMILY_CODES, QuantizedLeaf, RawLeaf
from mdl.codec.stream import MAX_SYMBOLS, _prior_table, _rans_decode_segments, _rans_encode_segments
from mdl.codes.priors import PRIOR_FAMILIES, check_prior, is_prior

KIND = "MODC"
_F32 = struct.Struct("<f")


def _prior_bytes(prior) -> bytes:
    out = bytearray([_FAMILY_CODES.index(_family_name(prior))])
    for value in prior:
        if is_prior(value):
            out += _prior_bytes(value)
        else:
            values = np.atleast_1d(np.asarray(value, np.float32)).reshape(-1)
            out += container.varints([values.size]) + values.astype("<f4").tobytes()
    return bytes(out)


def _family_name(prior) -> str:
    for name, cls in PRIOR_FAMILIES.items():
        if type(prior) is cls:
            return name
    raise TypeError(f"not a prior: {type(prior).__name__}")


def _prior_from_bytes(payload: bytes, at: int, depth: int = 0):
    if depth > 4 or at >= len(payload):
        raise CodecError("truncated or too deeply nested prior")
    code = payload[at]
    if code >= len(_FAMILY_CODES):
        raise CodecError(f"unknown prior family code {code}")
    family = PRIOR_FAMILIES[_FAMILY_CODES[code]]
    at += 1
    values = []
    for field in family._fields:
        if field in ("slab", "components"):
            value, at = _prior_from_bytes(payload, at, depth + 1)
        else:
            (size,), at = container.read_varints(payload, 1, at)
            if not 1 <= size <= 1 << 16 or at + 4 * size > len(payload):
                raise CodecError(f"prior parameter {field!r} has a bad length {size}")
            value = np.frombuffer(payload[at : at + 4 * size], "<f4").astype(np.float32)
            value = value[0] if size == 1 else value
            at += 4 * size
        values.append(value)
    prior = family(*values)
    try:
        check_prior(prior)
    except (ValueError, TypeError) as error:
        raise CodecError(f"invalid prior parameters ({error})") from None
    return prior, at


def encode_compact(leaves: list) -> bytes:
    """Write finalized leaves (``QuantizedLeaf`` or ``RawLeaf``, in the template's leaf order)
    to a compact file."""
    meta, segments, raw = bytearray(), [], bytearray()
    for position, leaf in enumerate(leaves):
        if isinstance(leaf, QuantizedLeaf):
            symbols = np.asarray(leaf.symbols, np.int64).reshape(-1)
            lo = int(symbols.min()) if symbols.size else 0
            hi = int(symbols.max()) if symbols.size else 0
            segments.append((symbols - lo, _prior_table(leaf.prior, lo, hi)))
            meta += b"\x01" + _F32.pack(np.float32(leaf.step))
            meta += container.varints([lo, hi - lo + 1]) + _prior_bytes(leaf.prior)
        elif isinstance(leaf, RawLeaf):
            values = np.asarray(leaf.values, np.float32)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"leaf {position} holds NaN or infinite values")
            meta += b"\x00"
            raw += values.astype("<f4").tobytes()
        else:
            raise TypeError(
                f"compact files hold QuantizedLeaf and RawLeaf; leaf {position} is "
                f"{type(leaf).__name__} (use mdl.codec.encode_model)"
            )
    sections = {"META": bytes(meta), "RANS": _rans_encode_segments(segments)}
    if raw:
        sections["RAWF"] = bytes(raw)
    return container.pack(KIND, sections)


def decode_compact(data: bytes, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Inverse of :func:`encode_compact` given the tensors' shapes (the template's)."""
    sections = container.unpack(data, KIND)
    meta, stream = container.require(sections, "META", "RANS")
    raw = sections.get("RAWF", b"")
    if sum(math.prod(s) for s in shapes) > MAX_SYMBOLS:
        raise CodecError(f"the template holds more than {MAX_SYMBOLS} parameters")
    at, plan, segments, raw_at = 0, [], [], 0
    for shape in shapes:
        if at >= len(meta):
            raise CodecError("compact metadata ends before the template's last tensor")
        kind, at = meta[at], at + 1
        count = math.prod(shape)
        if kind == 0:
            if raw_at + 4 * count > len(raw):
                raise CodecError("float32 section is shorter than the template needs")
            plan.append(("raw", raw_at))
            raw_at += 4 * count
        elif kind == 1:
            if at + 4 > len(meta):
                raise CodecError("truncated step in compact metadata")
            (step,) = _F32.unpack_from(meta, at)
            (lo, alphabet), at = container.read_varints(meta, 2, at + 4)
            if not math.isfinite(step) or not 1 <= alphabet <= 1 << 24:
                raise CodecError("compact metadata has a bad step or alphabet")
            prior, at = _prior_from_bytes(meta, at)
            try:
                table = _prior_table(prior, lo, lo + alphabet - 1)
            except (ValueError, TypeError) as error:
                raise CodecError(f"bad prior ({error})") from error
            plan.append(("q", (np.float32(step), lo)))
            segments.append((table, count))
        else:
            raise CodecError(f"unknown tensor kind {kind} in compact metadata")
    if at != len(meta) or raw_at != len(raw):
        raise CodecError("compact file holds more than the template describes")
    decoded = iter(_rans_decode_segments(stream, segments))
    weights = []
    for shape, (kind, info) in zip(shapes, plan, strict=True):
        if kind == "raw":
            count = math.prod(shape)
            values = np.frombuffer(raw[info : info + 4 * count], "<f4").astype(np.float32)
        else:
            step, lo = info
            values = (next(decoded).astype(np.int64) + lo).astype(np.float32) * step
        weights.append(values.reshape(shape))
    return weights
