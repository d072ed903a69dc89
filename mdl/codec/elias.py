"""Bit-level encoders and decoders for the Elias gamma, delta and omega codes.

Their lengths are exactly `mdl.codes.elias_gamma_bits` and friends; the bytes are the
codewords back to back, most significant bit first, padded with zero bits to a whole byte. The
decoder is told how many integers to read (the count travels elsewhere, e.g. in a header), and
refuses codewords beyond 64 bits, streams that end early, and nonzero or surplus padding.

Reference: P. Elias, "Universal codeword sets and representations of the integers", IEEE
Transactions on Information Theory, 1975.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from mdl.codec.errors import CodecError

MAX_BITS = 64  # integers up to 2**64 - 1


def _gamma(n: int) -> str:
    binary = format(n, "b")
    return "0" * (len(binary) - 1) + binary


def _delta(n: int) -> str:
    binary = format(n, "b")
    return _gamma(len(binary)) + binary[1:]


def _omega(n: int) -> str:
    groups = ["0"]
    while n > 1:
        binary = format(n, "b")
        groups.append(binary)
        n = len(binary) - 1
    return "".join(reversed(groups))


class _BitReader:
    """Reads a '0'/'1' ASCII rendering of the bytes; str.find makes runs of zeros cheap."""

    def __init__(self, data: bytes):
        bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
        self.text = (bits + ord("0")).astype(np.uint8).tobytes()
        self.at = 0

    def read(self, count: int) -> int:
        if self.at + count > len(self.text):
            raise CodecError("Elias stream ends in the middle of a codeword")
        chunk = self.text[self.at : self.at + count]
        self.at += count
        return int(chunk, 2) if count else 0

    def zeros_then_one(self) -> int:
        """Count zeros up to the next 1 bit, consuming both."""
        one = self.text.find(b"1", self.at, self.at + MAX_BITS)
        if one < 0:
            remaining = len(self.text) - self.at
            if remaining <= MAX_BITS:
                raise CodecError("Elias stream ends in the middle of a codeword")
            raise CodecError(f"Elias codeword longer than {MAX_BITS} bits")
        zeros = one - self.at
        self.at = one + 1
        return zeros

    def finish(self) -> None:
        rest = self.text[self.at :]
        if len(rest) >= 8 or rest.strip(b"0"):
            raise CodecError("Elias stream has data after the last codeword")


def _read_gamma(reader: _BitReader) -> int:
    zeros = reader.zeros_then_one()
    return (1 << zeros) | reader.read(zeros)


def _read_delta(reader: _BitReader) -> int:
    length = _read_gamma(reader)
    if length > MAX_BITS:
        raise CodecError(f"Elias delta codeword declares {length} bits, more than {MAX_BITS}")
    return (1 << (length - 1)) | reader.read(length - 1)


def _read_omega(reader: _BitReader) -> int:
    n = 1
    while reader.read(1):
        if n >= MAX_BITS:
            raise CodecError(f"Elias omega group of {n + 1} bits exceeds {MAX_BITS}")
        n = (1 << n) | reader.read(n)
    return n


def _encoder(codeword: Callable[[int], str]):
    def encode(values: Iterable[int]) -> bytes:
        # Python ints, not a numpy array: values up to 2**64 - 1 overflow int64.
        numbers = np.asarray(values, dtype=object).reshape(-1).tolist()
        if not all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in numbers):
            raise TypeError("values must be integers")
        numbers = [int(n) for n in numbers]
        if numbers and min(numbers) < 1:
            raise ValueError(f"values must be integers >= 1; got minimum {min(numbers)}")
        if numbers and max(numbers) >= 1 << MAX_BITS:
            raise ValueError(f"values must be < 2**{MAX_BITS}; got {max(numbers)}")
        text = "".join(codeword(n) for n in numbers)
        bits = np.frombuffer(text.encode("ascii"), dtype=np.uint8) - ord("0")
        return np.packbits(bits).tobytes()

    return encode


def _decoder(read: Callable[[_BitReader], int]):
    def decode(data: bytes, count: int) -> np.ndarray:
        if not isinstance(count, int | np.integer) or count < 0:
            raise ValueError(f"count must be a non-negative integer; got {count!r}")
        # Every codeword takes at least one bit: refuse a count the bytes cannot hold.
        if count > 8 * len(data):
            raise CodecError(f"{len(data)} bytes cannot hold {count} Elias codewords")
        reader = _BitReader(data)
        values = [read(reader) for _ in range(int(count))]
        reader.finish()
        return np.array(values, dtype=np.uint64)

    return decode


encode_elias_gamma = _encoder(_gamma)
r"""``encode_elias_gamma(values) -> bytes``: Elias gamma codewords of integers ``n >= 1``, most
significant bit first, zero-padded to a byte. Each takes $2 \lfloor \log_2 n \rfloor + 1$ bits,
exactly `mdl.codes.elias_gamma_bits`: $\lfloor \log_2 n \rfloor$ zeros, then $n$ in binary.

Raises ``TypeError`` for non-integers and ``ValueError`` for values outside $[1, 2^{64})$.

References:
  P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
  Information Theory, 1975.
"""
encode_elias_delta = _encoder(_delta)
r"""``encode_elias_delta(values) -> bytes``: Elias delta codewords of integers ``n >= 1``; each
takes $\lfloor \log_2 n \rfloor + 2 \lfloor \log_2(\lfloor \log_2 n \rfloor + 1) \rfloor + 1$ bits,
exactly `mdl.codes.elias_delta_bits`: the gamma codeword of the length
$\lfloor \log_2 n \rfloor + 1$, then $n$ in binary without its leading 1.

Raises ``TypeError`` for non-integers and ``ValueError`` for values outside $[1, 2^{64})$.

References:
  P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
  Information Theory, 1975.
"""
encode_elias_omega = _encoder(_omega)
r"""``encode_elias_omega(values) -> bytes``: Elias omega (recursive) codewords of integers
``n >= 1``, lengths exactly `mdl.codes.elias_omega_bits`: with $n_0 = n$ and
$n_{j+1} = \lfloor \log_2 n_j \rfloor$ while $n_j > 1$, the binary forms of the $n_j > 1$,
last first, then a 0: $1 + \sum_{j:\, n_j > 1} (\lfloor \log_2 n_j \rfloor + 1)$ bits.

Raises ``TypeError`` for non-integers and ``ValueError`` for values outside $[1, 2^{64})$.

References:
  P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
  Information Theory, 1975.
"""
decode_elias_gamma = _decoder(_read_gamma)
"""``decode_elias_gamma(data, count) -> np.ndarray``: the ``count`` integers (uint64) that
`encode_elias_gamma` wrote; raises `CodecError` on truncated, overlong (over 64 bits) or
badly padded input, ``ValueError`` for a negative ``count``.

References:
  P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
  Information Theory, 1975.
"""
decode_elias_delta = _decoder(_read_delta)
"""``decode_elias_delta(data, count) -> np.ndarray``: the ``count`` integers (uint64) that
`encode_elias_delta` wrote; raises `CodecError` on truncated, overlong (over 64 bits) or
badly padded input, ``ValueError`` for a negative ``count``.

References:
  P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
  Information Theory, 1975.
"""
decode_elias_omega = _decoder(_read_omega)
"""``decode_elias_omega(data, count) -> np.ndarray``: the ``count`` integers (uint64) that
`encode_elias_omega` wrote; raises `CodecError` on truncated, overlong (over 64 bits) or
badly padded input, ``ValueError`` for a negative ``count``.

References:
  P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
  Information Theory, 1975.
"""

for _name, _fn in list(globals().items()):
    if _name.startswith(("encode_elias_", "decode_elias_")):
        code = _name.rsplit("_", 1)[1]
        _fn.__name__ = _fn.__qualname__ = _name
        _fn.__doc__ = (
            f"Write positive integers < 2**64 with the Elias {code} code; returns bytes, "
            f"each codeword exactly ``mdl.codes.elias_{code}_bits`` bits long.\n\n"
            if _name.startswith("encode")
            else f"Read ``count`` Elias {code} codewords from bytes into a uint64 array; "
            "CodecError on bad bytes.\n\n"
        ) + (
            'References:\n  P. Elias, "Universal codeword sets and representations of the '
            'integers", IEEE Trans. Information Theory, 1975.\n'
        )
