"""Model files: corruption and forged metadata raise CodecError."""

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.codec import CodecError, container
from mdl.codec.model import decode_model, encode_model
from mdl.codes.priors import DiscretizedLaplace
from mdl.compress import QuantizedLeaf, RawLeaf


def sample_file() -> bytes:
    rng = np.random.default_rng(0)
    leaves = {
        "w": QuantizedLeaf(
            np.round(rng.laplace(0, 3, (20, 10))).astype(np.int64),
            np.float32(0.01),
            DiscretizedLaplace(np.float32(0.0), np.float32(3.0)),
        ),
        "b": RawLeaf(rng.normal(size=10).astype(np.float32)),
    }
    return encode_model(leaves)


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


def reseal_with_meta(meta) -> bytes:
    sections = container.unpack(sample_file(), "MODL")
    sections["META"] = msgpack.packb(meta)
    return container.pack("MODL", sections)


LAPLACE = [0, [0.0], [1.0]]  # [family code, loc, scale]


@pytest.mark.parametrize(
    "meta, message",
    [
        ("nonsense", "list of tensors"),
        ([["w", [10**9, 10**9], "f"], ["b", [10], "f"]], "more than"),
        ([["w", [20, 10], "f"], ["b", [10], "f"]], "bytes for 200 float32"),
        ([["w", [-1], "f"], ["b", [10], "f"]], "non-negative"),
        ([["w", [20, 10], "x"], ["b", [10], "f"]], "unknown entry kind"),
        ([["w", [20, 10], "q", 0.01, 0, 2**30, LAPLACE], ["b", [10], "f"]], "out of range"),
        ([["w", [20, 10], "q", 1, 0, 5, LAPLACE], ["b", [10], "f"]], "step must be a float"),
        ([["w", [20, 10], "q", 0.01, 0, 5, [9, [0.0], [1.0]]], ["b", [10], "f"]], "bad prior"),
        ([["w", [20, 10], "q", 0.01, 0, 5, [0, [0.0], [-1.0]]], ["b", [10], "f"]], "bad prior"),
        ([["w", [20, 10], "q", 0.01, 0, 5, [0, [0.0]]], ["b", [10], "f"]], "bad prior"),
    ],
)
def test_forged_metadata_is_refused(meta, message):
    with pytest.raises(CodecError, match=message):
        decode_model(reseal_with_meta(meta))
