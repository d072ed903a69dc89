"""Model files (kind MODL): compressed models that describe themselves.

Sections, in order:

* ``META``: a varint count of tensors, then per tensor its path (varint length, UTF-8), its
  shape (varint rank, varint sides) and its leaf's metadata (`mdl.codec.leaves`: a kind
  byte, then the step, bin range and prior of quantized tensors, and so on);
* ``ARCH`` (optional): MessagePack naming a reference architecture
  (`mdl.models.describe`), so `mdl.compress.load_compressed` can rebuild the
  model without a template;
* ``RANS``: every tensor's coded symbols in one rANS stream (absent when there are none);
* ``RAWF``: the float32 values kept at full precision, concatenated (absent when none).

Everything but the names, shapes and architecture is the compact format's
(`mdl.codec.compact`), written by the same leaf codecs. Bins are coded against the prior
they were trained with (evaluated in float64 from its float32 parameters), so
``8 * len(file)`` is the training-time rate plus one coder state for the whole model and
this metadata.
"""

from __future__ import annotations

import math

import msgpack
import numpy as np

from mdl.codec import container
from mdl.codec.container import varints
from mdl.codec.errors import CodecError
from mdl.codec.leaves import (  # noqa: F401  (the leaf types are imported from here too)
    CodebookLeaf,
    GroupedLeaf,
    LiveBlockLeaf,
    LowRankLeaf,
    QuantizedLeaf,
    RawLeaf,
    SparseLeaf,
    decode_body,
    encode_body,
    encode_leaf,
    group_bounds,
    group_index,
    leaf_shape,
    read_leaf,
)
from mdl.codec.meta import Cursor
from mdl.codec.rans import MAX_SYMBOLS
from mdl.codes.sparse import sparse_leaf_bits  # noqa: F401  (moved to mdl.codes.sparse)

KIND = "MODL"


def encode_model(leaves: dict, arch: dict | None = None) -> bytes:
    r"""Write finalized leaves (``{path: QuantizedLeaf | GroupedLeaf | SparseLeaf |
    CodebookLeaf | LiveBlockLeaf | RawLeaf}``) and, optionally, the architecture's description
    to bytes.

    The file (kind MODL) is the model part $L(\text{params})$ of a two-part code made real:
    its $8 \cdot$ ``len(bytes)`` bits are the coded symbols in one rANS stream (each bin
    $-\log_2 P(k)$ under the prior it was trained with; sparse flags and codebook indices as
    in `mdl.codec.leaves`), plus 32 bits per float32 value kept raw, plus the metadata
    (paths, shapes, leaf metadata, the optional ``ARCH`` section) and the container's header.

    Args:
      leaves: ``{path: leaf}`` for every tensor, in the order to write them.
      arch: an architecture description (`mdl.models.describe`) stored as MessagePack, or
        None to leave it out.

    Returns:
      The file's bytes; `decode_model` reads them back.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (two-part
      codes); J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    head, encoded = bytearray(varints([len(leaves)])), []
    for path, leaf in leaves.items():
        name = str(path).encode("utf-8")
        shape = leaf_shape(leaf)
        code = encode_leaf(leaf, f"leaf {path!r}")
        head += varints([len(name)]) + name + varints([len(shape), *shape]) + code.meta
        encoded.append(code)
    sections = {"META": bytes(head)}
    if arch is not None:
        # MessagePack with float32 floats: a third of JSON's size for a few integers and names.
        sections["ARCH"] = msgpack.packb(arch, use_single_float=True)
    return container.pack(KIND, {**sections, **encode_body(encoded)})


def _unpack(payload: bytes, what: str):
    try:
        # unpackb never allocates beyond what its input holds: every msgpack element takes
        # at least one byte, so a forged length fails as truncated data.
        return msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as error:  # msgpack raises several unrelated types for bad bytes
        raise CodecError(f"model {what} is not valid MessagePack: {error}") from error


def decode_model(data: bytes) -> tuple[dict[str, np.ndarray], dict | None]:
    """Read a model file written by `encode_model`.

    Args:
      data: the file's bytes.

    Returns:
      ``({path: float32 weights}, arch or None)``: the weights bit for bit as encoded, and
      the architecture description when the file holds one.

    Raises:
      CodecError: for truncated, corrupted or forged bytes, unknown sections, repeated paths
        or more parameters than the coder accepts.

    References:
      J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    sections = container.unpack(data, KIND)
    unknown = set(sections) - {"META", "ARCH", "RANS", "RAWF"}
    if unknown:
        raise CodecError(f"model file holds sections {sorted(unknown)} that it does not describe")
    (payload,) = container.require(sections, "META")
    cursor = Cursor(payload, "model metadata")
    # Every tensor takes at least three bytes: a forged count fails before the loop runs long.
    count = cursor.count("the number of tensors", 0, len(payload))
    paths, plans, total = [], [], 0
    for index in range(count):
        path = cursor.text(f"the path of tensor {index}")
        shape = cursor.shape(f"the shape of {path!r}")
        total += math.prod(shape)
        if total > MAX_SYMBOLS:
            raise CodecError(f"model declares more than {MAX_SYMBOLS} parameters")
        if path in paths:
            raise CodecError(f"tensor {path!r} appears twice")
        paths.append(path)
        plans.append(read_leaf(cursor, shape, f"tensor {path!r}"))
    cursor.end()
    arch = _unpack(sections["ARCH"], "architecture") if "ARCH" in sections else None
    return dict(zip(paths, decode_body(plans, sections), strict=True)), arch
