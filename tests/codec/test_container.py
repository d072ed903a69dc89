"""The container format: framing, checksum, versions, forged headers."""

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.codec import CodecError, container

tags = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4)
sections = st.dictionaries(tags, st.binary(max_size=100), max_size=5)


def reseal(body: bytes) -> bytes:
    """Append a valid CRC, so a test reaches the checks behind the checksum."""
    return body + struct.pack("<I", zlib.crc32(body))


@given(sections)
def test_round_trip(parts):
    assert container.unpack(container.pack("TEST", parts), "TEST") == parts


@given(sections, st.data())
def test_flipped_bytes_and_truncations_are_detected(parts, data):
    packed = container.pack("TEST", parts)
    position = data.draw(st.integers(0, len(packed) - 1))
    corrupted = bytearray(packed)
    corrupted[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CodecError):
        container.unpack(bytes(corrupted), "TEST")
    with pytest.raises(CodecError):
        container.unpack(packed[: data.draw(st.integers(0, len(packed) - 1))], "TEST")


def test_wrong_kind_version_and_forged_lengths():
    packed = container.pack("TEST", {"DATA": b"abc"})
    with pytest.raises(CodecError, match="expected b'OTHR'"):
        container.unpack(packed, "OTHR")
    body = bytearray(packed[:-4])
    body[4:6] = struct.pack("<H", 99)
    with pytest.raises(CodecError, match="unknown format version 99"):
        container.unpack(reseal(bytes(body)), "TEST")
    body = bytearray(packed[:-4])
    body[16:20] = struct.pack("<I", 2**32 - 1)  # section claims 4 GiB
    with pytest.raises(CodecError, match="section lengths"):
        container.unpack(reseal(bytes(body)), "TEST")
    body = bytearray(packed[:-4])
    body[10:12] = struct.pack("<H", 60000)  # 60000 sections in a 30-byte file
    with pytest.raises(CodecError, match="cannot hold their table"):
        container.unpack(reseal(bytes(body)), "TEST")
    with pytest.raises(CodecError, match="not an mdl container"):
        container.unpack(b"PK\3\4" + bytes(20), "TEST")


@given(st.lists(st.integers(-(2**62), 2**62), max_size=20))
def test_varints_round_trip(values):
    payload = container.varints(values)
    assert container.read_varints(payload, len(values)) == (values, len(payload))


def test_varints_reject_truncation_and_overlong():
    with pytest.raises(CodecError, match="truncated"):
        container.read_varints(b"\x80", 1)
    with pytest.raises(CodecError, match="64 bits"):
        container.read_varints(b"\xff" * 20, 1)


def test_bad_tags_are_refused():
    with pytest.raises(ValueError, match="section tag must be 4 ASCII"):
        container.pack("TEST", {"TOOLONG": b""})
