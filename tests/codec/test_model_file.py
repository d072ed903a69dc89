"""Model files: corruption and forged metadata raise CodecError."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.codec import CodecError, container
from mdl.codec.container import varints
from mdl.codec.meta import f32, prior_bytes
from mdl.codec.model import QuantizedLeaf, RawLeaf, decode_model, encode_model
from mdl.codes.priors import DiscretizedLaplace

LAPLACE = prior_bytes(DiscretizedLaplace(np.float32(0.0), np.float32(3.0)))


def sample_leaves() -> dict:
    rng = np.random.default_rng(0)
    return {
        "w": QuantizedLeaf(
            np.round(rng.laplace(0, 3, (20, 10))).astype(np.int64),
            np.float32(0.01),
            DiscretizedLaplace(np.float32(0.0), np.float32(3.0)),
        ),
        "b": RawLeaf(rng.normal(size=10).astype(np.float32)),
    }


def sample_file() -> bytes:
    return encode_model(sample_leaves(), arch={"family": "MLP", "sizes": [10, 20]})


def test_round_trip_and_architecture():
    weights, arch = decode_model(sample_file())
    leaves = sample_leaves()
    assert arch == {"family": "MLP", "sizes": [10, 20]}
    np.testing.assert_array_equal(
        weights["w"], leaves["w"].symbols.astype(np.float32) * np.float32(0.01)
    )
    np.testing.assert_array_equal(weights["b"], leaves["b"].values)
    assert list(weights) == ["w", "b"] and weights["w"].dtype == np.float32


@given(st.data())
def test_flipped_bytes_and_truncation_raise_codec_error(data):
    encoded = sample_file()
    position = data.draw(st.integers(0, len(encoded) - 1))
    corrupted = bytearray(encoded)
    corrupted[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CodecError):
        decode_model(bytes(corrupted))
    with pytest.raises(CodecError):
        decode_model(encoded[: data.draw(st.integers(0, len(encoded) - 1))])


def entry(path: str, shape, leaf_meta: bytes) -> bytes:
    name = path.encode("utf-8")
    return varints([len(name)]) + name + varints([len(shape), *shape]) + leaf_meta


def quantized(step=0.01, lo=-20, alphabet=41, prior=LAPLACE) -> bytes:
    return b"\x01" + f32(step) + varints([lo, alphabet]) + prior


def reseal(*entries: bytes, count: int | None = None, **extra) -> bytes:
    """The sample file's sections with its META replaced (and ``extra`` sections added)."""
    sections = container.unpack(sample_file(), "MODL")
    sections["META"] = varints([len(entries) if count is None else count]) + b"".join(entries)
    return container.pack("MODL", {**sections, **extra})


RAW_B = entry("b", [10], b"\x00")


def laplace(loc, scale) -> bytes:
    """A forged Laplace prior: family 0, then each parameter as [1 value] (None: cut off)."""
    out = b"\x00" + varints([1]) + f32(loc) + varints([1])
    return out if scale is None else out + f32(scale)


@pytest.mark.parametrize(
    "forged, message",
    [
        (reseal(count=10**9), "number of tensors"),
        (reseal(entry("w", [10**9, 10**9], b"\x00"), RAW_B), "more than"),
        (reseal(entry("w", [20, 10], b"\x00"), RAW_B), "float32 section"),
        (reseal(entry("w", [-1], b"\x00"), RAW_B), "outside"),
        (reseal(entry("w", [20, 10], b"\x09"), RAW_B), "unknown leaf kind 9"),
        (reseal(entry("w", [20, 10], quantized(alphabet=2**30)), RAW_B), "alphabet"),
        (reseal(entry("w", [20, 10], quantized(step=float("nan"))), RAW_B), "finite"),
        (reseal(entry("w", [20, 10], quantized(prior=b"\x09")), RAW_B), "prior family 9"),
        (reseal(entry("w", [20, 10], quantized(prior=laplace(0, None)))), "ends inside"),
        (reseal(entry("w", [20, 10], quantized(prior=laplace(0, -1))), RAW_B), "invalid prior"),
        (reseal(entry("w", [20, 10], quantized(prior=b"\x00" + varints([0]))), RAW_B), "length"),
        (reseal(entry("w", [20, 10], quantized(lo=5, alphabet=2)), RAW_B), "rANS|range"),
        (reseal(entry("w", [20, 10], quantized()), entry("w", [10], b"\x00")), "twice"),
        (reseal(varints([2]) + b"\xff\xfe" + b"\x01\x14\x00", RAW_B), "UTF-8"),
        (reseal(entry("w", [20, 10], quantized()), RAW_B + b"\x00"), "more than it describes"),
        (reseal(entry("w", [20, 10], quantized()), RAW_B, JUNK=b"x"), "does not describe"),
        (reseal(entry("w", [20, 10], quantized()), count=1), "float32 section"),
    ],
)
def test_forged_metadata_is_refused(forged, message):
    with pytest.raises(CodecError, match=message):
        decode_model(forged)


def test_the_file_and_the_estimate_agree():
    """A model file is its tensors' information content plus one coder state and metadata."""
    leaves = sample_leaves()
    data = encode_model(leaves)
    sections = container.unpack(data, "MODL")
    symbols = leaves["w"].symbols
    rate = float(np.sum(np.asarray(leaves["w"].prior.bits(symbols), np.float64)))
    assert rate - 64 <= 8 * len(sections["RANS"]) <= rate * 1.001 + 96
    assert set(sections) == {"META", "RANS", "RAWF"} and len(sections["RAWF"]) == 40
    assert len(sections["META"]) < 30  # names, shapes, step, range and prior: bytes, not text
