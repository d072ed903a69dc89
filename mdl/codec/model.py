"""Compressed models <-> bytes.

A model file is a container of kind ``MODL``:

* ``META``: compact JSON describing each tensor in order: path, shape, and either
  ``["q", step_bits, lo, alphabet, prior]`` (float32 step as its 32-bit pattern, the bin range,
  the prior with float32 parameters) or ``["f"]`` (raw float32);
* ``ARCH`` (optional): JSON naming a reference architecture, so ``load_compressed`` can rebuild
  the model without a template;
* one section per tensor, ``T000``, ``T001``...: the rANS words of its bins (quantized), or its
  little-endian float32 values (raw).

The bins are coded against the prior they were trained with (evaluated in float64 from its
float32 parameters), so ``8 * len(file)`` is the training-time rate plus the coder's few words
per tensor and this metadata.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any, NamedTuple

import numpy as np

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codec.stream import MAX_SYMBOLS, _prior_table, _rans_decode, _rans_encode
from mdl.codes.priors import prior_from_json, prior_to_json

KIND = "MODL"


class QuantizedLeaf(NamedTuple):
    """A tensor as integer bins ``symbols`` times ``step``, coded with ``prior``."""

    symbols: np.ndarray  # int64, the tensor's shape
    step: np.float32
    prior: Any  # a prior from mdl.codes.priors, parameters as float32


class RawLeaf(NamedTuple):
    """A tensor kept at float32 (charged 32 bits per scalar)."""

    values: np.ndarray


def _float32_bits(value) -> int:
    return struct.unpack("<I", np.float32(value).tobytes())[0]


def _float32_from_bits(bits: int) -> np.float32:
    return np.frombuffer(struct.pack("<I", bits), dtype=np.float32)[0]


def _tag(index: int) -> str:
    if index >= 1000:
        raise ValueError("a model file holds at most 1000 tensors")
    return f"T{index:03d}"


def encode_model(leaves: dict, arch: dict | None = None) -> bytes:
    """Write finalized leaves (``{path: QuantizedLeaf | RawLeaf}``) to bytes."""
    meta, sections = [], {}
    for index, (path, leaf) in enumerate(leaves.items()):
        if isinstance(leaf, QuantizedLeaf):
            symbols = np.asarray(leaf.symbols, dtype=np.int64)
            lo = int(symbols.min()) if symbols.size else 0
            hi = int(symbols.max()) if symbols.size else 0
            table = _prior_table(leaf.prior, lo, hi)
            payload = _rans_encode((symbols.reshape(-1) - lo), table) if symbols.size else b""
            entry = ["q", _float32_bits(leaf.step), lo, hi - lo + 1, prior_to_json(leaf.prior)]
        elif isinstance(leaf, RawLeaf):
            values = np.asarray(leaf.values, dtype=np.float32)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"leaf {path!r} holds NaN or infinite values")
            symbols, payload, entry = values, values.astype("<f4").tobytes(), ["f"]
        else:
            raise TypeError(
                f"leaf {path!r} must be a QuantizedLeaf or RawLeaf; got {type(leaf).__name__}"
            )
        meta.append([path, list(np.shape(symbols)), *entry])
        sections[_tag(index)] = payload
    head = {"META": json.dumps(meta, separators=(",", ":")).encode()}
    if arch is not None:
        head["ARCH"] = json.dumps(arch, separators=(",", ":"), sort_keys=True).encode()
    return container.pack(KIND, {**head, **sections})


def _shape(value, path) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise CodecError(f"tensor {path!r}: shape must be a list of non-negative integers")
    return tuple(value)


def decode_model(data: bytes) -> tuple[dict[str, np.ndarray], dict | None]:
    """Read a model file: ``({path: float32 weights}, arch or None)``. CodecError on bad bytes."""
    sections = container.unpack(data, KIND)
    (meta_payload,) = container.require(sections, "META")
    try:
        meta = json.loads(meta_payload)
        arch = json.loads(sections["ARCH"]) if "ARCH" in sections else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise CodecError(f"model metadata is not valid JSON: {error}") from error
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
            step_bits, lo, alphabet, prior_description = entry[3:]
            if not all(
                isinstance(v, int) and not isinstance(v, bool) for v in (step_bits, lo, alphabet)
            ):
                raise CodecError(f"tensor {path!r}: step, range and alphabet must be integers")
            if not 0 <= step_bits < 2**32 or not 1 <= alphabet <= 1 << 24:
                raise CodecError(f"tensor {path!r}: step or alphabet out of range")
            step = _float32_from_bits(step_bits)
            try:
                prior = prior_from_json(prior_description)
                table = _prior_table(prior, lo, lo + alphabet - 1) if count else None
            except ValueError as error:
                raise CodecError(f"tensor {path!r}: bad prior ({error})") from error
            symbols = _rans_decode(payload, table, count) + lo if count else np.zeros(0, np.int64)
            if symbols.size and (symbols.min() < lo or symbols.max() > lo + alphabet - 1):
                raise CodecError(f"tensor {path!r}: decoded bins outside the declared range")
            weights[path] = (symbols.astype(np.float32) * step).reshape(shape)
        else:
            raise CodecError(f"tensor {path!r}: unknown entry kind {entry[2]!r}")
    if len(sections) != len(meta) + 1 + ("ARCH" in sections):
        raise CodecError("model file holds sections that its metadata does not describe")
    return weights, arch
