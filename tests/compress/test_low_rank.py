"""Low-rank (LoRA) deltas: the file decodes to hard() bit for bit against its reference, the
change is the product of the factors (checked against numpy in float64), the estimate is the
file, and bad arguments are refused before anything is coded."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.codec.compact import decode_compact, encode_compact
from mdl.codec.errors import CodecError
from mdl.codec.leaves import LowRankLeaf, QuantizedLeaf, low_rank_product
from mdl.codes.priors import DiscretizedLaplace
from mdl.compress import (
    decode_delta,
    delta,
    encode_delta,
    float32_baseline,
    leaves_with_paths,
    lora,
    quantizer,
    reference_params,
)
from mdl.compress.files import encode_compressed
from mdl.models import MLP, ConvNet
from mdl.params import split_params
from tests.compress.test_delta import HEADER_BYTES


def reference_file(model):
    plain = float32_baseline()
    return encode_compressed(model, plain, plain.init(split_params(model)[1]))


def with_random_factors(cstate, scale, seed):
    """The state as training might leave it: both factors nonzero (init has B = 0), their
    quantizer fitted to them (lora's factor quantizer, initialized afresh)."""
    rng = np.random.default_rng(seed)
    factors = jax.tree.map(
        lambda f: jnp.asarray(rng.normal(0, scale, f.shape), jnp.float32), cstate["factors"]
    )
    quant = quantizer(lambda path, w: True, prior="spike_laplace").init(factors)
    return {**cstate, "factors": factors, "quant": quant}


def leaves_of(model):
    return [np.asarray(x) for x in jax.tree.leaves(split_params(model)[1])]


@pytest.mark.parametrize(
    "make, select",
    [
        (lambda seed=0: MLP([20, 16, 4], rngs=nnx.Rngs(seed)), None),
        (
            lambda seed=0: ConvNet((4, 6), image_shape=(8, 8), num_classes=3, rngs=nnx.Rngs(seed)),
            "kernel",
        ),
    ],
)
def test_the_file_decodes_to_hard_bit_for_bit_and_the_change_is_the_product(make, select):
    model = make()
    ref_file = reference_file(model)
    reference = reference_params(ref_file, model)
    compressor = delta(lora(2, select), reference)
    _, params = split_params(model)
    cstate = with_random_factors(compressor.init(params), 0.3, 1)
    want = compressor.hard(params, cstate)
    graphdef, _ = split_params(model)
    tuned = nnx.merge(graphdef, want)
    data = encode_delta(tuned, compressor, cstate, ref_file)
    decoded = decode_delta(data, ref_file, make())
    for got, expected in zip(leaves_of(decoded), jax.tree.leaves(want), strict=True):
        assert np.array_equal(got, np.asarray(expected))  # bit for bit
    # the selected leaves changed by the product of the hard factors (numpy, float64)
    hard_factors = {
        path: {k: np.asarray(v, np.float64) for k, v in f.items()}
        for path, f in cstate["factors"].items()
    }
    steps = {k: float(np.exp(v.log_step)) for k, v in cstate["quant"].items()}
    ref = dict(leaves_with_paths(reference))
    got = dict(leaves_with_paths(want))
    for path, f in hard_factors.items():
        a = np.round(f["a"] / steps[f"{path}/a"]) * steps[f"{path}/a"]
        b = np.round(f["b"] / steps[f"{path}/b"]) * steps[f"{path}/b"]
        change = np.asarray(got[path], np.float64) - np.asarray(ref[path], np.float64)
        assert np.allclose(change.reshape(a.shape[0], -1), a @ b, rtol=1e-4, atol=1e-5), path
    with pytest.raises(CodecError, match="another reference"):
        decode_delta(data, reference_file(make(seed=9)), make())


@settings(max_examples=6, deadline=None)
@given(rank=st.integers(1, 6), scale=st.floats(0.01, 1.0), seed=st.integers(0, 1000))
def test_the_lora_estimate_is_the_file_within_one_percent_and_a_header(rank, scale, seed):
    model = MLP([20, 16, 4], rngs=nnx.Rngs(0))
    ref_file = reference_file(model)
    reference = reference_params(ref_file, model)
    compressor = delta(lora(rank), reference)
    _, params = split_params(model)
    cstate = with_random_factors(compressor.init(params), scale, seed)
    graphdef, _ = split_params(model)
    tuned = nnx.merge(graphdef, compressor.hard(params, cstate))
    estimate = float(compressor.bits(params, cstate))
    data = encode_delta(tuned, compressor, cstate, ref_file)
    # two factors per matrix: each its own bin range and prior (a few bytes more than a leaf)
    assert abs(8 * len(data) - estimate) <= 0.01 * estimate + 8 * (HEADER_BYTES + 96), (
        estimate,
        8 * len(data),
    )


def test_a_lora_change_costs_r_times_m_plus_n_bins_not_m_times_n():
    """The same rank-4 change of a 256 x 256 matrix, coded as its factors and as a dense
    quantized delta of its entries (each at a step of a quarter of its spread): the factors
    take 2 r (m + n) / (m n) = 1/16 of the bins and well under a tenth of the bits."""
    model = MLP([256, 256, 4], rngs=nnx.Rngs(0))
    ref_file = reference_file(model)
    reference = reference_params(ref_file, model)
    low_rank = delta(lora(4, "layers/0/kernel"), reference)
    _, params = split_params(model)
    cstate = with_random_factors(low_rank.init(params), 0.3, 0)
    changed = low_rank.hard(params, cstate)
    dense = delta(quantizer(lambda path, w: True), reference)
    dense_bits = float(dense.bits(changed, dense.init(changed)))
    low_rank_bits = float(low_rank.bits(changed, cstate))
    assert low_rank_bits < 0.1 * dense_bits, (low_rank_bits, dense_bits)


def test_the_product_is_exact_integer_arithmetic():
    rng = np.random.default_rng(0)
    left = rng.integers(-300, 300, (50, 3))
    right = rng.integers(-300, 300, (3, 40))
    values = low_rank_product(left, right, np.float32(0.01), np.float32(0.003), (5, 10, 40))
    want = (left @ right).astype(np.float64) * float(np.float32(0.01) * np.float32(0.003))
    assert values.dtype == np.float32 and values.shape == (5, 10, 40)
    assert np.array_equal(values, want.astype(np.float32).reshape(5, 10, 40))


def test_bad_arguments_and_forged_ranks_are_refused():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="rank"):
            lora(bad)
    with pytest.raises(TypeError, match="rest"):
        lora(2, rest=lambda w: w)
    model = MLP([20, 16, 4], rngs=nnx.Rngs(0))
    _, params = split_params(model)
    with pytest.raises(ValueError, match="matrices and kernels"):
        lora(2, "bias").init(params)
    prior = DiscretizedLaplace(np.float32(0.0), np.float32(1.0))
    left = QuantizedLeaf(np.ones((20, 3), np.int64), np.float32(0.5), prior)
    right = QuantizedLeaf(np.ones((3, 8), np.int64), np.float32(0.25), prior)
    with pytest.raises(ValueError, match="factors"):
        encode_compact([LowRankLeaf(left, right, (20, 4))])  # the right factor is [3, 8]
    data = encode_compact([LowRankLeaf(left, right, (20, 8))])
    assert np.array_equal(decode_compact(data, [(20, 8)])[0], np.full((20, 8), 0.375, np.float32))
    # the same bytes for a tensor whose rank cannot reach 3: a forged rank, refused
    with pytest.raises(CodecError, match="rank"):
        decode_compact(data, [(20, 2)])
