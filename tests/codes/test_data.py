"""Data code lengths against scipy/numpy computed independently in float64."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special, stats

from mdl.codes import (
    bernoulli_bits,
    categorical_bits,
    discretized_gaussian_bits,
    discretized_logistic_bits,
)

LN2 = math.log(2)
finite = st.floats(-30, 30, allow_nan=False, width=32)
# A few fixed shapes: eager JAX compiles each op once per shape, and hypothesis would otherwise
# spend the test's time compiling rather than checking.
logit_shapes = st.sampled_from([(1, 1), (7, 3), (16, 10)])


@given(
    logits=hnp.arrays(np.float32, logit_shapes, elements=finite),
    seed=st.integers(0, 2**32 - 1),
)
def test_categorical_bits_matches_scipy(logits, seed):
    labels = np.random.default_rng(seed).integers(0, logits.shape[-1], size=logits.shape[0])
    expected = (
        -special.log_softmax(logits.astype(np.float64), axis=-1)[np.arange(len(labels)), labels]
        / LN2
    )
    np.testing.assert_allclose(categorical_bits(logits, labels), expected, rtol=1e-5, atol=1e-4)


@given(
    logits=hnp.arrays(np.float32, 32, elements=st.floats(-80, 80, width=32)),
    seed=st.integers(0, 2**32 - 1),
)
def test_bernoulli_bits_matches_scipy(logits, seed):
    targets = np.random.default_rng(seed).integers(0, 2, size=logits.shape).astype(np.float32)
    x = logits.astype(np.float64)
    expected = -(targets * special.log_expit(x) + (1 - targets) * special.log_expit(-x)) / LN2
    np.testing.assert_allclose(bernoulli_bits(logits, targets), expected, rtol=1e-5, atol=1e-5)


def reference_interval_bits(dist, z_lo, z_hi):
    """-log2 of the interval mass from scipy's float64 log-CDF / log-SF, on the side where the
    tail is small, so deep tails don't underflow."""
    upper = (z_lo + z_hi) > 0
    big = np.where(upper, dist.logsf(z_lo), dist.logcdf(z_hi))
    small = np.where(upper, dist.logsf(z_hi), dist.logcdf(z_lo))
    return -(big + np.log1p(-np.exp(small - big))) / LN2


@pytest.mark.parametrize(
    "code, dist",
    [(discretized_gaussian_bits, stats.norm), (discretized_logistic_bits, stats.logistic)],
)
@given(
    mean=st.floats(-3, 3),
    log_scale=st.floats(-2, 2),
    y=hnp.arrays(np.float64, 20, elements=st.floats(-20, 20)),
    bin_width=st.floats(0.01, 2.0),
)
def test_discretized_bits_match_scipy(code, dist, mean, log_scale, y, bin_width):
    scale = math.exp(log_scale)
    z_lo, z_hi = (y - bin_width / 2 - mean) / scale, (y + bin_width / 2 - mean) / scale
    expected = reference_interval_bits(dist, z_lo, z_hi)
    np.testing.assert_allclose(code(mean, log_scale, y, bin_width), expected, rtol=2e-4, atol=2e-3)


@pytest.mark.parametrize("code", [discretized_gaussian_bits, discretized_logistic_bits])
def test_narrow_bins_approach_density_minus_log_width(code):
    """For w -> 0 the bin's bits are -log2 density(y) - log2 w (a closed form)."""
    y, w = np.linspace(-4, 4, 9), 1e-5
    dist = stats.norm if code is discretized_gaussian_bits else stats.logistic
    expected = -dist.logpdf(y) / LN2 - math.log2(w)
    np.testing.assert_allclose(code(0.0, 0.0, y, w), expected, rtol=1e-5)


@pytest.mark.parametrize("code", [discretized_gaussian_bits, discretized_logistic_bits])
def test_gradients_are_finite_in_tails_and_narrow_bins(code):
    y = jnp.array([-60.0, -5.0, 0.0, 0.3, 5.0, 60.0])
    for width in (1e-6, 0.1, 1.0):
        grads = jax.grad(lambda m, s, w=width: code(m, s, y, w).sum(), argnums=(0, 1))(0.1, 0.0)
        assert all(np.isfinite(np.asarray(g)) for g in grads)


def test_data_codes_are_jit_and_vmap_compatible():
    logits = jnp.arange(12.0).reshape(3, 4) / 5
    labels = jnp.array([0, 3, 1])
    np.testing.assert_allclose(
        jax.jit(categorical_bits)(logits, labels), categorical_bits(logits, labels), rtol=1e-6
    )
    batched = jax.vmap(lambda m: discretized_gaussian_bits(m, 0.0, 1.0, 0.5))(jnp.arange(3.0))
    eager = [discretized_gaussian_bits(float(m), 0.0, 1.0, 0.5) for m in range(3)]
    np.testing.assert_allclose(batched, eager, rtol=1e-6)


def test_bad_inputs_name_the_argument():
    logits = np.zeros((4, 3))
    with pytest.raises(ValueError, match="labels must have shape"):
        categorical_bits(logits, np.zeros(5, int))
    with pytest.raises(ValueError, match="labels must be < 3"):
        categorical_bits(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="labels must be integers >= 0"):
        categorical_bits(logits, np.array([0, -1, 2, 0]))
    with pytest.raises(TypeError, match="labels must hold integers"):
        categorical_bits(logits, np.array([0.5, 1, 2, 0]))
    with pytest.raises(ValueError, match="logits must be finite"):
        categorical_bits(np.full((4, 3), np.nan), np.zeros(4, int))
    with pytest.raises(ValueError, match="targets must have the shape"):
        bernoulli_bits(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="targets must lie in"):
        bernoulli_bits(np.zeros(2), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="bin_width must be > 0"):
        discretized_gaussian_bits(0.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="must broadcast"):
        discretized_logistic_bits(np.zeros(3), 0.0, np.zeros(4), 1.0)
