"""Descriptions made real: entropy-coded bytes that decode back exactly.

Everything mdl writes is one container format (``mdl.codec.container``): magic bytes, format
version, typed sections with lengths, and a CRC-32. Every coded stream is one rANS stream made
by one writer and read by one reader (``mdl.codec.rans``). Anything truncated, corrupted, of an
unknown version or inconsistent with its model raises `CodecError`.

* symbols and labels: `encode_symbols`, `encode_labels`,
  `encode_label_chunks` (one stream, decoded chunk by chunk by
  `LabelChunkDecoder`);
* targets under any data code (labels, binary labels, token sequences with padding, real
  values at a bin width): `encode_targets` / `decode_targets`
  (`mdl.codec.targets`), the file of ``code.bits``;
* models: `encode_model` (self-describing) and `encode_compact` (for a reader
  that knows the architecture), over the leaf types of ``mdl.codec.leaves``;
* integers: Elias gamma, delta and omega codes.
"""

from mdl.codec import container
from mdl.codec.compact import decode_compact, encode_compact
from mdl.codec.elias import (
    decode_elias_delta,
    decode_elias_gamma,
    decode_elias_omega,
    encode_elias_delta,
    encode_elias_gamma,
    encode_elias_omega,
)
from mdl.codec.errors import CodecError
from mdl.codec.model import decode_model, encode_model
from mdl.codec.stream import (
    LabelChunkDecoder,
    decode_labels,
    decode_symbols,
    encode_label_chunks,
    encode_labels,
    encode_symbols,
    information_bits,
)
from mdl.codec.targets import decode_targets, encode_targets

__all__ = [
    "CodecError",
    "LabelChunkDecoder",
    "container",
    "decode_compact",
    "decode_elias_delta",
    "decode_elias_gamma",
    "decode_elias_omega",
    "decode_labels",
    "decode_model",
    "decode_symbols",
    "decode_targets",
    "encode_compact",
    "encode_elias_delta",
    "encode_elias_gamma",
    "encode_elias_omega",
    "encode_label_chunks",
    "encode_labels",
    "encode_model",
    "encode_symbols",
    "encode_targets",
    "information_bits",
]
