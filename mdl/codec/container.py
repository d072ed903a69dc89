"""The container every mdl file uses: magic, version, kind, typed sections, checksum.

Layout (all integers little-endian)::

    magic     4 bytes   b"\\x89MDL"  (the high byte keeps text tools from mistaking it for text)
    version   u16       FORMAT_VERSION
    kind      4 bytes   ASCII tag of what the file holds, e.g. b"SYMS", b"LABL", b"MODL"
    count     u16       number of sections
    count x   (tag: 4 ASCII bytes, length: u32)
    payloads  the sections' bytes, in order, back to back
    crc32     u32       zlib.crc32 of everything before it

CRC-32 detects every error confined to 32 consecutive bits, so flipping any one byte or
truncating the file is always caught. Section lengths are checked against the bytes actually
present before any slicing, so a forged header cannot make the reader allocate.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

from mdl.codec.errors import CodecError

MAGIC = b"\x89MDL"
FORMAT_VERSION = 2  # 2: one rANS stream per model file, binary model metadata, narrow CRCs
_HEAD = struct.Struct("<4sH4sH")
_SECTION = struct.Struct("<4sI")
_CRC = struct.Struct("<I")
HEADER_BYTES = _HEAD.size + _CRC.size  # fixed cost, plus _SECTION.size per section


def _tag(text: str, what: str) -> bytes:
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if len(raw) != 4:
        raise ValueError(f"{what} must be 4 ASCII characters; got {text!r}")
    return raw


def pack(kind: str, sections: Mapping[str, bytes]) -> bytes:
    """Frame ``sections`` (tag -> payload, in order) as one checksummed container of ``kind``."""
    if len(sections) > 0xFFFF:
        raise ValueError(f"a container holds at most 65535 sections; got {len(sections)}")
    too_big = [tag for tag, payload in sections.items() if len(payload) > 0xFFFFFFFF]
    if too_big:
        raise ValueError(f"sections {too_big} exceed the 4 GiB a section can hold")
    parts = [_HEAD.pack(MAGIC, FORMAT_VERSION, _tag(kind, "kind"), len(sections))]
    parts += [
        _SECTION.pack(_tag(tag, "section tag"), len(payload)) for tag, payload in sections.items()
    ]
    parts += [bytes(payload) for payload in sections.values()]
    body = b"".join(parts)
    return body + _CRC.pack(zlib.crc32(body))


def kind_of(data: bytes) -> str | None:
    """The kind tag of an mdl container (``"MODL"``, ``"MODC"``...), or None if ``data`` does
    not start like one. Checks nothing else: `unpack` does."""
    if len(data) < _HEAD.size or data[: len(MAGIC)] != MAGIC:
        return None
    return _HEAD.unpack_from(data)[2].decode("ascii", errors="replace")


def unpack(data: bytes, kind: str) -> dict[str, bytes]:
    """Check and open a container of ``kind``; returns its sections (tag -> payload)."""
    data = memoryview(bytes(data))
    if len(data) < HEADER_BYTES:
        raise CodecError(f"truncated: {len(data)} bytes is shorter than any mdl container")
    magic, version, file_kind, count = _HEAD.unpack_from(data, 0)
    if magic != MAGIC:
        raise CodecError(f"not an mdl container: magic bytes {bytes(magic)!r}, expected {MAGIC!r}")
    body, (stored_crc,) = data[: -_CRC.size], _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(body) != stored_crc:
        raise CodecError("checksum mismatch: the bytes are corrupted or truncated")
    if version != FORMAT_VERSION:
        raise CodecError(
            f"unknown format version {version}; this mdl reads version {FORMAT_VERSION}"
        )
    expected = _tag(kind, "kind")
    if file_kind != expected:
        raise CodecError(f"container holds {bytes(file_kind)!r}, expected {expected!r}")
    offset = _HEAD.size
    if offset + count * _SECTION.size > len(body):
        raise CodecError(f"header declares {count} sections but the bytes cannot hold their table")
    table = [_SECTION.unpack_from(body, offset + i * _SECTION.size) for i in range(count)]
    offset += count * _SECTION.size
    if sum(length for _, length in table) != len(body) - offset:
        raise CodecError("declared section lengths do not match the bytes present")
    sections: dict[str, bytes] = {}
    for tag, length in table:
        try:
            name = tag.decode("ascii")
        except UnicodeDecodeError as error:
            raise CodecError(f"section tag {tag!r} is not ASCII") from error
        if name in sections:
            raise CodecError(f"section {name!r} appears twice")
        sections[name] = bytes(body[offset : offset + length])
        offset += length
    return sections


def require(sections: Mapping[str, bytes], *tags: str) -> list[bytes]:
    """The payloads of ``tags``, or CodecError naming the first one missing."""
    missing = [tag for tag in tags if tag not in sections]
    if missing:
        raise CodecError(f"missing section(s) {missing}; found {sorted(sections)}")
    return [sections[tag] for tag in tags]


def _zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def varints(values) -> bytes:
    """Integers (any sign) as zigzag LEB128 varints: small numbers in one byte each."""
    out = bytearray()
    for value in values:
        number = _zigzag(int(value))
        while True:
            byte, number = number & 0x7F, number >> 7
            out.append(byte | (0x80 if number else 0))
            if not number:
                break
    return bytes(out)


def read_varints(payload: bytes, count: int, start: int = 0) -> tuple[list[int], int]:
    """Read ``count`` zigzag varints from ``payload[start:]``; returns (values, next offset)."""
    values, offset = [], start
    for _ in range(count):
        number, shift = 0, 0
        while True:
            if offset >= len(payload):
                raise CodecError("truncated varint in metadata")
            if shift > 63:
                raise CodecError("varint in metadata exceeds 64 bits")
            byte = payload[offset]
            offset += 1
            number |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append(number >> 1 if not number & 1 else -(number >> 1) - 1)
    return values, offset
