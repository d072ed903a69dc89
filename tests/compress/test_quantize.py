"""The quantizer's estimate against the real file, exact decoding, and any NNX model."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.codec.model import decode_model, encode_model
from mdl.compress import (
    float32_baseline,
    leaves_with_paths,
    load_compressed,
    quantizer,
    save_compressed,
    split_params,
)
from mdl.compress.quantize import PRIORS
from mdl.data import load
from mdl.models import MLP, lenet_300_100
from mdl.testing import assert_estimate_is_file, assert_file_decodes_to_hard


def check_estimate_against_file(params, compressor, cstate):
    """The jitted estimate is the file; the file decodes to the hard weights."""
    estimate, real = assert_estimate_is_file(compressor, params, cstate)
    assert float(jax.jit(compressor.bits)(params, cstate)) == pytest.approx(estimate, rel=1e-5)
    assert_file_decodes_to_hard(compressor, params, cstate)
    return estimate, real


# Random values at fixed shapes (one compilation per prior); every compressor x prior at other
# states and random shapes is covered by tests/compress/test_protocol.py.
FIXED_SHAPES = {"dense": {"kernel": (24, 8), "bias": (8,)}, "out": {"kernel": (8, 3)}}


@pytest.mark.parametrize("prior", PRIORS)
@settings(max_examples=3)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.05, 20.0), zeros=st.floats(0.0, 0.9))
def test_estimate_matches_the_file_on_random_values(prior, seed, scale, zeros):
    rng = np.random.default_rng(seed)

    def leaf(shape):
        values = rng.laplace(0.0, scale, size=shape) * (rng.random(shape) >= zeros)
        return jnp.asarray(values, jnp.float32)

    params = jax.tree.map(leaf, FIXED_SHAPES, is_leaf=lambda x: isinstance(x, tuple))
    compressor = quantizer(lambda path, leaf: np.size(leaf) >= 4, prior=prior)
    cstate = compressor.init(params)
    check_estimate_against_file(params, compressor, cstate)


def test_estimate_matches_the_file_after_training():
    from mdl.train import fit

    data = load("digits")
    compressor = quantizer(prior="spike_laplace")
    result = fit(
        MLP([64, 32, 10], rngs=nnx.Rngs(0)),
        data,
        compressor=compressor,
        epochs=8,
        batch_size=64,
        optimizer=optax.adam(3e-3),
        progress=False,
    )
    estimate, real = check_estimate_against_file(result.params, compressor, result.cstate)
    float32_bits = 32 * (64 * 32 + 32 + 32 * 10 + 10)
    assert real < float32_bits / 4  # training made it compressible
    assert result.history[-1]["test_error"] < 0.3


def dead_unit_kernels(seed: int, zeros: float):
    """A dense kernel and a conv kernel (``[3, 3, in, out]``) with about half their input and
    output units dead (all-zero rows and columns) and ``zeros`` of the rest zero."""
    rng = np.random.default_rng(seed)

    def kernel(shape):
        values = rng.laplace(0.0, 1.0, size=shape) * (rng.random(shape) >= zeros)
        values[..., rng.random(shape[-2]) < 0.5, :] = 0
        values[..., rng.random(shape[-1]) < 0.5] = 0
        return jnp.asarray(values, jnp.float32)

    return {
        "dense": {"kernel": kernel((40, 12)), "bias": kernel((1, 12))[0]},
        "conv": {"kernel": kernel((3, 3, 6, 8))},
    }


def spike_laplace_live_block_bits(hard: dict, cstate: dict) -> float:
    """The live-block code of the hard weights under the spike-and-slab Laplace prior, in
    closed form with numpy: per kernel ``[..., m, n]`` the flags ``m h2(r/m) + n h2(c/n)`` and
    ``-log2 P(k)`` of the live block's bins, ``P(0) = pi + (1 - pi)(1 - e^{-1/(2b)})``,
    ``P(k) = (1 - pi) e^{-(|k| - 1/2)/b} (1 - e^{-1/b}) / 2``; a vector's every bin; and 3
    float32 side scalars (step, scale, spike) per tensor."""

    def h2_bits(n, k):
        return 0.0 if k in (0, n) else -(k * math.log2(k / n) + (n - k) * math.log2(1 - k / n))

    total = 0.0
    for path, w in leaves_with_paths(hard):
        state = cstate[path]
        bins = np.rint(np.asarray(w, np.float64) / math.exp(float(state.log_step)))
        pi = 1 / (1 + math.exp(-float(state.spike_logit)))
        b = 0.05 + math.exp(float(state.log_scale))
        if bins.ndim >= 2:
            *lead, m, n = bins.shape
            live = np.moveaxis(bins != 0, (-2, -1), (0, 1)).reshape(m, n, math.prod(lead))
            rows, columns = live.any(axis=(1, 2)), live.any(axis=(0, 2))
            total += h2_bits(m, rows.sum()) + h2_bits(n, columns.sum())
            bins = bins[..., np.flatnonzero(rows), :][..., np.flatnonzero(columns)]
        p_zero = pi + (1 - pi) * (1 - math.exp(-0.5 / b))
        p = np.where(
            bins == 0,
            p_zero,
            (1 - pi) * np.exp(-(np.abs(bins) - 0.5) / b) * (1 - math.exp(-1 / b)) / 2,
        )
        total += float(-np.sum(np.log2(p))) + 3 * 32
    return total


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), zeros=st.floats(0.0, 0.8))
def test_live_block_rate_is_its_closed_form_and_its_file(seed, zeros):
    params = dead_unit_kernels(seed, zeros)
    compressor = quantizer(lambda path, leaf: np.size(leaf) >= 4, live_block=True)
    cstate = compressor.init(params)
    estimate, _ = check_estimate_against_file(params, compressor, cstate)
    closed_form = spike_laplace_live_block_bits(compressor.hard(params, cstate), cstate)
    assert estimate == pytest.approx(closed_form, rel=1e-4)


@pytest.mark.parametrize("prior, groups", [("logistic", 1), ("mixture", 1), ("spike_laplace", 3)])
def test_live_block_estimate_is_its_file_for_every_rate_path(prior, groups):
    params = dead_unit_kernels(0, 0.3)
    compressor = quantizer(prior=prior, step_groups=groups, live_block=True)
    cstate = compressor.init(params)
    check_estimate_against_file(params, compressor, cstate)
    plain = quantizer(prior=prior, step_groups=groups)
    dead_units_are_cheaper = float(compressor.bits(params, cstate)) < float(
        plain.bits(params, plain.init(params))
    )
    assert dead_units_are_cheaper


def test_live_block_trains_and_its_file_is_the_estimate():
    from mdl.train import fit

    compressor = quantizer(live_block=True)
    result = fit(
        MLP([64, 32, 10], rngs=nnx.Rngs(0)),
        load("digits"),
        compressor=compressor,
        beta=3.0,
        epochs=8,
        batch_size=64,
        optimizer=optax.adam(3e-3),
        progress=False,
    )
    check_estimate_against_file(result.params, compressor, result.cstate)
    assert result.history[-1]["test_error"] < 0.3


def test_live_block_must_be_a_bool():
    with pytest.raises(ValueError, match="live_block must be a bool"):
        quantizer(live_block="yes")


class TinyConvNet(nnx.Module):
    """A model defined only here: conv, a parameter outside any standard layer, and a dense."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv = nnx.Conv(1, 4, kernel_size=(3, 3), rngs=rngs)
        self.gain = nnx.Param(jnp.ones((4,)))
        self.dense = nnx.Linear(8 * 8 * 4, 10, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.conv(x[..., None]) * self.gain)
        return self.dense(h.reshape(*h.shape[:-3], -1))


def test_any_nnx_model_compresses_and_reloads_bit_identically(tmp_path):
    from mdl.train import fit

    data = load("digits")
    compressor = quantizer("conv|dense/kernel")
    result = fit(
        TinyConvNet(nnx.Rngs(1)),
        data,
        compressor=compressor,
        epochs=3,
        batch_size=64,
        progress=False,
    )
    path = tmp_path / "tiny.mdl"
    size = save_compressed(path, result.model, compressor, result.cstate)
    assert size == path.stat().st_size
    with pytest.raises(ValueError, match="names no reference architecture"):
        load_compressed(path)
    loaded = load_compressed(path, model=TinyConvNet(nnx.Rngs(99)))
    graphdef, _ = split_params(result.model)
    hard = nnx.merge(graphdef, compressor.hard(result.params, result.cstate))
    x = jnp.asarray(data.x_test[:50])
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(hard(x)))
    _, params = split_params(loaded)
    _, hard_params = split_params(hard)
    for (p1, a), (p2, b) in zip(
        leaves_with_paths(params), leaves_with_paths(hard_params), strict=True
    ):
        assert p1 == p2 and np.array_equal(np.asarray(a), np.asarray(b))


def test_reference_models_reload_without_a_template(tmp_path):
    model = lenet_300_100()
    compressor = quantizer()
    _, params = split_params(model)
    save_compressed(tmp_path / "lenet.mdl", model, compressor, compressor.init(params))
    loaded = load_compressed(tmp_path / "lenet.mdl")
    assert isinstance(loaded, MLP) and loaded.sizes == (784, 300, 100, 10)


def test_relaxations_and_gradients():
    params = {"w": jnp.linspace(-1, 1, 64).reshape(8, 8)}
    for relaxation in ("ste", "noise"):
        compressor = quantizer(prior="laplace", relaxation=relaxation)
        cstate = compressor.init(params)
        hard = compressor.hard(params, cstate)["w"]
        step = float(jnp.exp(cstate["w"].log_step))
        np.testing.assert_allclose(
            np.asarray(hard) / step, np.round(np.asarray(hard) / step), atol=1e-4
        )
        relaxed = compressor.apply(params, cstate, jax.random.key(0))["w"]
        if relaxation == "noise":
            assert not np.allclose(relaxed, hard)
        grads = jax.grad(compressor.bits, argnums=(0, 1))(params, cstate)
        assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))
        assert float(jnp.abs(grads[0]["w"]).sum()) > 0  # the rate pulls on the weights


def test_float32_baseline_is_32_bits_per_scalar():
    params = {"a": jnp.ones((3, 4)), "b": jnp.zeros(5)}
    baseline = float32_baseline()
    assert baseline.bits(params, baseline.init(params)) == 32 * 17
    data = encode_model(baseline.finalize(params, {}))
    decoded, _ = decode_model(data)
    np.testing.assert_array_equal(decoded["a"], np.ones((3, 4), np.float32))


def test_bad_input_is_refused():
    params = {"layer": {"kernel": jnp.ones((4, 4)), "bias": jnp.zeros(4)}}
    with pytest.raises(
        ValueError, match="select='conv' matches no parameter; the parameters are: layer/bias"
    ):
        quantizer("conv").init(params)
    with pytest.raises(ValueError, match="layer/kernel.*NaN"):
        quantizer().init({"layer": {"kernel": jnp.full((4, 4), jnp.nan)}})
    with pytest.raises(ValueError, match="prior must be one of"):
        quantizer(prior="cauchy")
    with pytest.raises(ValueError, match="relaxation must be"):
        quantizer(relaxation="gumbel")
    with pytest.raises(ValueError, match="init_bits_per_std must be > 0"):
        quantizer(init_bits_per_std=-1)
    with pytest.raises(TypeError, match="select must be"):
        quantizer(3).init(params)


def test_zero_initialized_tensors_get_a_usable_step_and_the_estimate_stays_the_file():
    from mdl.train import fit

    # Freshly initialized biases are zeros; their step must not collapse (a 1e-8 spread once
    # gave steps of 2.5e-9 and bins in the millions, coded at the coder's floor).
    model = MLP([64, 32, 10], rngs=nnx.Rngs(0))
    _, params = split_params(model)
    compressor = quantizer(".*")
    cstate = compressor.init(params)
    assert float(jnp.exp(cstate["layers/0/bias"].log_step)) == pytest.approx(1e-2 / 4, rel=1e-5)
    data = load("digits")
    result = fit(
        model,
        data,
        compressor=compressor,
        optimizer=optax.adam(3e-3),
        epochs=3,
        batch_size=64,
        beta=0.01,
        progress=False,
    )
    _, trained = split_params(result.model)
    estimate = float(compressor.bits(trained, result.cstate))
    real = 8 * len(encode_model(compressor.finalize(trained, result.cstate)))
    assert 0.9 * estimate <= real <= 1.01 * estimate + 3000  # no floor-coded runaway bins


@pytest.mark.parametrize("prior, step_groups", [("laplace", 1), ("spike_laplace", 3)])
def test_hand_written_gradients_match_autodiff_of_the_textbook_rate(prior, step_groups):
    """The quantizer's backward passes (written by hand for speed) against jax.grad of an
    independent formula: straight-through rounding of ``w / step`` and ``-log2`` of the
    discretized Laplace pmf as a difference of CDFs (with the spike, a two-part mixture)."""
    from mdl.codec.model import group_index
    from mdl.compress.quantize import MIN_PRIOR_SCALE

    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(0, 0.3, (12, 6)), jnp.float32)}
    compressor = quantizer(prior=prior, step_groups=step_groups, relaxation="ste")
    cstate = compressor.init(params)
    cotangent = jnp.asarray(rng.normal(size=(12, 6)), jnp.float32)

    def laplace_cdf(t, b):
        return jnp.where(t < 0, 0.5 * jnp.exp(t / b), 1 - 0.5 * jnp.exp(-t / b))

    def reference(w, state):
        step = jnp.exp(state.log_step)
        if step.ndim:  # per-group steps over the last axis
            step = step[group_index(w.shape[-1], step.shape[0])]
        x = w / step
        k = x + jax.lax.stop_gradient(jnp.round(x) - x)
        b = MIN_PRIOR_SCALE + jnp.exp(state.log_scale)
        pmf = laplace_cdf(k + 0.5, b) - laplace_cdf(k - 0.5, b)
        if prior == "spike_laplace":
            spike = jax.nn.sigmoid(state.spike_logit)
            pmf = spike * (jnp.round(x) == 0) + (1 - spike) * pmf
        return jnp.sum(cotangent * k * step), -jnp.sum(jnp.log2(pmf))

    def library(w, state):
        weights = compressor.apply({"w": w}, {"w": state}, jax.random.key(0))["w"]
        return jnp.sum(cotangent * weights), compressor.bits({"w": w}, {"w": state})

    side_bits = 32.0 * (3 if prior.startswith("spike") else 2) + 32.0 * (step_groups - 1)
    (ref_out, ref_rate), (lib_out, lib_rate) = (
        f(params["w"], cstate["w"]) for f in (reference, library)
    )
    np.testing.assert_allclose(lib_out, ref_out, rtol=1e-5)
    np.testing.assert_allclose(lib_rate - side_bits, ref_rate, rtol=1e-4)
    for output in (0, 1):
        expected = jax.grad(lambda w, s, o=output: reference(w, s)[o], argnums=(0, 1))
        actual = jax.grad(lambda w, s, o=output: library(w, s)[o], argnums=(0, 1))
        for want, got in zip(
            jax.tree.leaves(expected(params["w"], cstate["w"])),
            jax.tree.leaves(actual(params["w"], cstate["w"])),
            strict=True,
        ):
            np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-4)


@given(st.floats(-12.0, 6.0), st.integers(0, 2**31 - 1))
def test_power_of_two_steps_are_exact_powers_and_decode_exactly(log_step, seed):
    """The step is 2^round(log_step / ln 2) exactly (numpy's power of two, not the code under
    test), every hard weight is an integer multiple of it, the file decodes to the hard weights,
    and the step still gets a gradient (straight through)."""
    w = np.random.default_rng(seed).normal(size=(5, 4)).astype(np.float32)
    compressor = quantizer(power_of_two_steps=True)
    params = {"w": jnp.asarray(w)}
    cstate = compressor.init(params)
    cstate = {"w": cstate["w"]._replace(log_step=jnp.float32(log_step))}
    expected_step = np.float32(2.0 ** np.round(np.float32(log_step) / math.log(2)))
    hard = np.asarray(compressor.hard(params, cstate)["w"])
    bins = hard / expected_step
    np.testing.assert_array_equal(bins, np.round(bins))
    np.testing.assert_array_equal(bins, np.round(w.astype(np.float64) / expected_step))
    leaf = compressor.finalize(params, cstate)["w"]
    assert np.float32(leaf.step) == expected_step
    decoded, _ = decode_model(encode_model({"w": leaf}))
    np.testing.assert_array_equal(np.asarray(decoded["w"]), hard)
    grad = float(jax.grad(lambda c: compressor.bits(params, c))(cstate)["w"].log_step)
    assert np.isfinite(grad) and (grad != 0.0 or not np.any(bins))
