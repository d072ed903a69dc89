"""Descriptions made real: entropy-coded bytes that decode back exactly.

Everything mdl writes is one container format (``mdl.codec.container``): magic bytes, format
version, typed sections with lengths, and a CRC-32. Anything truncated, corrupted, of an unknown
version or inconsistent with its model raises :class:`CodecError`.
"""

from mdl.codec import container
from mdl.codec.elias import (
    decode_elias_delta,
    decode_elias_gamma,
    decode_elias_omega,
    encode_elias_delta,
    encode_elias_gamma,
    encode_elias_omega,
)
from mdl.codec.errors import CodecError
from mdl.codec.stream import (
    decode_labels,
    decode_symbols,
    encode_labels,
    encode_symbols,
    information_bits,
)

__all__ = [
    "CodecError",
    "container",
    "decode_elias_delta",
    "decode_elias_gamma",
    "decode_elias_omega",
    "decode_labels",
    "decode_symbols",
    "encode_elias_delta",
    "encode_elias_gamma",
    "encode_elias_omega",
    "encode_labels",
    "encode_symbols",
    "information_bits",
]
