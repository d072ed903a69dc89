"""Compact model files (kind MODC): for decoders that already know the architecture.

A model file (`mdl.codec.model`, kind MODL) names every tensor and its shape, so any
reader can open it. When the decoder knows the architecture already (a two-part code whose
structure part names it, an Occam bound whose configuration index does), those names and
shapes are redundant bits. A compact file holds only what the template cannot supply:

* ``META``: per tensor, in the template's leaf order, its leaf's metadata
  (`mdl.codec.leaves`: a kind byte, then the step, bin range and prior of a quantized
  tensor, the groups of a grouped one, the kept count of a sparse one, the codebook...);
* ``RANS``: every tensor's coded symbols in one rANS stream (absent when there are none);
* ``RAWF``: the float32 values kept at full precision, concatenated (absent when none).

Every leaf type a model file holds, a compact file holds too. ``decode_compact(data,
shapes)`` needs the template's shapes (of an ``nnx.split`` state, or any pytree of arrays,
in its flattening order) and returns the weights in that order, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codec.leaves import decode_body, encode_body, encode_leaf, read_leaf
from mdl.codec.meta import Cursor
from mdl.codec.rans import MAX_SYMBOLS

KIND = "MODC"


def encode_compact(leaves: list) -> bytes:
    r"""Write finalized leaves (any leaf type of `mdl.codec.leaves`, in the template's
    leaf order) to a compact file (kind MODC).

    The file is the model part $L(\text{params})$ of a two-part code made real for a decoder
    that knows the architecture: its $8 \cdot$ ``len(bytes)`` bits are the leaves' coded
    symbols in one rANS stream (each $-\log_2 P(k)$ under its leaf's distribution: a bin under
    its prior, a sparse flag under Bernoulli($k/n$), a codebook index under the counts), 32
    bits per float32 value kept raw, each leaf's metadata and the container's header, but no
    names or shapes.

    Args:
      leaves: the finalized leaves (``QuantizedLeaf``, ``GroupedLeaf``, ``SparseLeaf``,
        ``CodebookLeaf``, ``LiveBlockLeaf`` or ``RawLeaf``), in the template's leaf order.

    Returns:
      The file's bytes; `decode_compact` reads them back given the template's shapes.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (two-part
      codes); J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    encoded = [encode_leaf(leaf, f"leaf {position}") for position, leaf in enumerate(leaves)]
    head = b"".join(code.meta for code in encoded)
    return container.pack(KIND, {"META": head, **encode_body(encoded)})


def decode_compact(data: bytes, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Inverse of `encode_compact` given the tensors' shapes (the template's).

    Args:
      data: the bytes of `encode_compact`.
      shapes: each tensor's shape, in the template's leaf order.

    Returns:
      The float32 weights, one array per shape, in that order, bit for bit as encoded.

    Raises:
      CodecError: for truncated, corrupted or forged bytes, unknown sections, or more
        parameters than the coder accepts.

    References:
      J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    sections = container.unpack(data, KIND)
    unknown = set(sections) - {"META", "RANS", "RAWF"}
    if unknown:
        raise CodecError(f"compact file holds sections {sorted(unknown)} it does not describe")
    (payload,) = container.require(sections, "META")
    if sum(math.prod(s) for s in shapes) > MAX_SYMBOLS:
        raise CodecError(f"the template holds more than {MAX_SYMBOLS} parameters")
    cursor = Cursor(payload, "compact metadata")
    plans = [
        read_leaf(cursor, tuple(shape), f"leaf {position}") for position, shape in enumerate(shapes)
    ]
    cursor.end()
    return decode_body(plans, sections)
