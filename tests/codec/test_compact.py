"""Compact model files: the template supplies names and shapes; the bytes hold the rest."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.codec import CodecError
from mdl.codec.compact import decode_compact, encode_compact
from mdl.codec.model import encode_model
from mdl.compress import leaves_with_paths, quantizer
from mdl.compress.quantize import PRIORS
from mdl.testing import param_pytrees

from .test_leaves import dense


@settings(max_examples=3)
@given(tree=param_pytrees(), prior=st.sampled_from(PRIORS))
def test_compact_files_decode_exactly_and_are_smaller(tree, prior):
    params = jax.tree.map(jnp.asarray, tree)
    compressor = quantizer(lambda path, leaf: np.size(leaf) >= 4, prior=prior)
    try:
        cstate = compressor.init(params)
    except ValueError as error:
        assert "matches no parameter" in str(error)
        return
    leaves = compressor.finalize(params, cstate)
    ordered = [leaves[path] for path, _ in leaves_with_paths(params)]
    data = encode_compact(ordered)
    shapes = [np.shape(leaf) for _, leaf in leaves_with_paths(params)]
    decoded = decode_compact(data, shapes)
    # (That the leaves are the compressor's hard weights is tests/compress's business.)
    for got, leaf, shape in zip(decoded, ordered, shapes, strict=True):
        np.testing.assert_array_equal(got, dense(leaf))
        assert got.shape == shape and got.dtype == np.float32
    assert len(data) <= len(encode_model(leaves))
    estimate = float(compressor.bits(params, cstate))
    assert 8 * len(data) <= 1.01 * estimate + 8 * 64 + 8 * 40 * len(ordered)


def test_compact_files_refuse_corruption_and_the_wrong_template():
    rng = np.random.default_rng(0)
    params = {"a": jnp.asarray(rng.normal(size=(8, 4))), "b": jnp.asarray(rng.normal(size=4))}
    compressor = quantizer("a")
    cstate = compressor.init(params)
    leaves = compressor.finalize(params, cstate)
    data = encode_compact([leaves["a"], leaves["b"]])
    with pytest.raises(CodecError):
        decode_compact(data[:-3], [(8, 4), (4,)])
    with pytest.raises(CodecError, match="float32 section"):
        decode_compact(data, [(8, 4), (5,)])
    with pytest.raises(CodecError, match="more than it describes"):
        decode_compact(data, [(8, 4)])
    with pytest.raises(CodecError, match="ends inside"):
        decode_compact(data, [(8, 4), (4,), (3,)])
    corrupt = bytearray(data)
    corrupt[20] ^= 0x01
    with pytest.raises(CodecError):
        decode_compact(bytes(corrupt), [(8, 4), (4,)])
    with pytest.raises(TypeError, match="leaf 0 must be one of"):
        encode_compact([np.zeros(3, np.float32)])
