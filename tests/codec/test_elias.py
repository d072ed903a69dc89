"""Bit-level Elias coders: round trips, exact lengths, and robustness to bad bytes."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.codec import (
    CodecError,
    decode_elias_delta,
    decode_elias_gamma,
    decode_elias_omega,
    encode_elias_delta,
    encode_elias_gamma,
    encode_elias_omega,
)
from mdl.codes import elias_delta_bits, elias_gamma_bits, elias_omega_bits

CODERS = [
    (encode_elias_gamma, decode_elias_gamma, elias_gamma_bits),
    (encode_elias_delta, decode_elias_delta, elias_delta_bits),
    (encode_elias_omega, decode_elias_omega, elias_omega_bits),
]
IDS = ["gamma", "delta", "omega"]


@pytest.mark.parametrize("encode, decode, length", CODERS, ids=IDS)
@given(values=st.lists(st.integers(1, 2**64 - 1), max_size=100))
def test_round_trip_up_to_64_bits(encode, decode, length, values):
    decoded = decode(encode(values), len(values))
    assert decoded.tolist() == values


@pytest.mark.parametrize("encode, decode, length", CODERS, ids=IDS)
@given(values=st.lists(st.integers(1, 2**31 - 1), min_size=1, max_size=100))
def test_bytes_hold_exactly_the_code_lengths(encode, decode, length, values):
    total_bits = int(np.sum(np.asarray(length(np.array(values)), dtype=np.int64)))
    assert len(encode(values)) == math.ceil(total_bits / 8)


def test_known_codewords():
    # Elias (1975), table of codewords for 1..4, concatenated and zero-padded.
    assert encode_elias_gamma([1, 2, 3, 4]) == bytes([0b10100110, 0b01000000])
    assert encode_elias_delta([1, 2, 3, 4]) == bytes([0b10100010, 0b10110000])
    assert encode_elias_omega([1, 2, 3, 4]) == bytes([0b01001101, 0b01000000])


@pytest.mark.parametrize("encode, decode, length", CODERS, ids=IDS)
@given(junk=st.binary(max_size=40), count=st.integers(0, 400))
def test_random_bytes_decode_or_raise_codec_error(encode, decode, length, junk, count):
    try:
        values = decode(junk, count)
    except CodecError:
        return
    assert len(values) == count and (values >= 1).all()


@pytest.mark.parametrize("encode, decode, length", CODERS, ids=IDS)
def test_truncation_and_surplus_are_errors(encode, decode, length):
    data = encode([5, 1000, 3])
    with pytest.raises(CodecError):
        decode(data[:-1], 3)
    with pytest.raises(CodecError, match="after the last codeword"):
        decode(data + b"\x80", 3)
    with pytest.raises(CodecError, match="cannot hold"):
        decode(b"\xff", 9)


@pytest.mark.parametrize("encode, decode, length", CODERS, ids=IDS)
def test_bad_values_are_refused(encode, decode, length):
    with pytest.raises(ValueError, match="values must be integers >= 1"):
        encode([3, 0])
    with pytest.raises(ValueError, match="count must be a non-negative integer"):
        decode(b"", -1)
