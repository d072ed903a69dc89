"""Discretized priors against scipy's continuous distributions integrated over bins."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from mdl.codes.priors import (
    DiscretizedGaussian,
    DiscretizedLaplace,
    DiscretizedLogistic,
    DiscretizedMixture,
    SpikeAndSlab,
    probability_table,
)
from mdl.testing import quantized_weights

FAMILIES = [
    (DiscretizedLaplace, stats.laplace),
    (DiscretizedGaussian, stats.norm),
    (DiscretizedLogistic, stats.logistic),
]


def reference_pmf(dist, loc, scale, k):
    lo, hi = (k - 0.5 - loc) / scale, (k + 0.5 - loc) / scale
    upper = (lo + hi) > 0
    return np.where(upper, dist.sf(lo) - dist.sf(hi), dist.cdf(hi) - dist.cdf(lo))


@pytest.mark.parametrize("family, dist", FAMILIES)
@given(weights=quantized_weights(size=64))
def test_pmf_matches_scipy_bins(family, dist, weights):
    loc, scale, k = weights
    expected = -np.log2(reference_pmf(dist, loc, scale, k.astype(np.float64)))
    got = np.asarray(family(loc, scale).bits(k))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("family, dist", FAMILIES)
@given(loc=st.floats(-5, 5), scale=st.floats(0.05, 20))
def test_pmf_sums_to_one_over_the_integers(family, dist, loc, scale):
    table = probability_table(family(loc, scale), -2000, 2000)
    assert table.sum() == pytest.approx(1.0, abs=1e-9)


@given(
    logits=st.lists(st.floats(-4, 4), min_size=3, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_mixture_matches_weighted_sum_of_components(logits, seed):
    rng = np.random.default_rng(seed)
    m = len(logits)
    locs, scales = rng.uniform(-10, 10, m), rng.uniform(0.1, 5, m)
    prior = DiscretizedMixture(
        jnp.array(logits), DiscretizedGaussian(jnp.array(locs), jnp.array(scales))
    )
    k = np.arange(-30, 31)
    weights = np.exp(logits) / np.sum(np.exp(logits))
    expected = sum(
        w * reference_pmf(stats.norm, mu, s, k)
        for w, mu, s in zip(weights, locs, scales, strict=True)
    )
    # Compare where the float64 reference has not underflowed (deep tails are compared
    # per family in test_pmf_matches_scipy_bins).
    representable = expected > 1e-250
    got = np.asarray(prior.bits(k))
    np.testing.assert_allclose(
        got[representable], -np.log2(expected[representable]), rtol=1e-4, atol=1e-3
    )
    assert probability_table(prior, -400, 400).sum() == pytest.approx(1.0, abs=1e-9)


@given(spike_logit=st.floats(-6, 6), scale=st.floats(0.1, 10))
def test_spike_and_slab_matches_closed_form(spike_logit, scale):
    prior = SpikeAndSlab(spike_logit, DiscretizedLaplace(0.0, scale))
    k = np.arange(-20, 21)
    pi = 1 / (1 + math.exp(-spike_logit))
    expected = (1 - pi) * reference_pmf(stats.laplace, 0.0, scale, k) + pi * (k == 0)
    np.testing.assert_allclose(prior.bits(k), -np.log2(expected), rtol=1e-4, atol=1e-3)
    assert probability_table(prior, -3000, 3000).sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("family, dist", FAMILIES)
def test_rate_is_differentiable_in_the_parameters(family, dist):
    k = jnp.arange(-50, 51)

    def total_bits(loc, log_scale):
        return family(loc, jnp.exp(log_scale)).bits(k).sum()

    grads = jax.grad(total_bits, argnums=(0, 1))(0.3, math.log(2.0))
    assert all(np.isfinite(np.asarray(g)) for g in grads)

    # A finite difference, computed independently in float64 with scipy, agrees with the gradient.
    def reference(log_scale):
        return -np.log2(reference_pmf(dist, 0.3, math.exp(log_scale), k.astype(float))).sum()

    h = 1e-4
    numeric = (reference(math.log(2.0) + h) - reference(math.log(2.0) - h)) / (2 * h)
    assert float(grads[1]) == pytest.approx(numeric, rel=1e-2)


@pytest.mark.parametrize("family", [f for f, _ in FAMILIES])
def test_nonpositive_scale_is_refused(family):
    with pytest.raises(ValueError, match="scale must be > 0"):
        family(0.0, 0.0).bits(np.arange(3))
    with pytest.raises(ValueError, match="scale must be finite"):
        family(0.0, np.nan).bits(np.arange(3))
    with pytest.raises(ValueError, match="loc must be finite"):
        family(np.inf, 1.0).bits(np.arange(3))
