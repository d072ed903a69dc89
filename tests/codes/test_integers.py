"""Universal integer codes against closed forms computed with Python integers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import comb

from mdl.codes import (
    LOG_STAR_NORMALIZER,
    elias_delta_bits,
    elias_gamma_bits,
    elias_omega_bits,
    log2_binomial,
    log_star_bits,
    uniform_bits,
)
from mdl.testing import positive_integers


def gamma_reference(n: int) -> int:
    return 2 * (n.bit_length() - 1) + 1


def delta_reference(n: int) -> int:
    length = n.bit_length()
    return (length - 1) + gamma_reference(length)


def omega_reference(n: int) -> int:
    return 1 if n == 1 else n.bit_length() + omega_reference(n.bit_length() - 1)


def log_star_reference(n: int) -> float:
    total, x = 0.0, float(n)
    while x > 1:
        x = math.log2(x)
        total += x
    return math.log2(LOG_STAR_NORMALIZER) + total


CODES = [
    (elias_gamma_bits, gamma_reference),
    (elias_delta_bits, delta_reference),
    (elias_omega_bits, omega_reference),
    (log_star_bits, log_star_reference),
]


@pytest.mark.parametrize("code, reference", CODES, ids=lambda c: getattr(c, "__name__", ""))
@given(values=st.lists(positive_integers(), min_size=1, max_size=50))
def test_lengths_match_closed_forms(code, reference, values):
    expected = np.array([reference(n) for n in values])
    np.testing.assert_allclose(np.asarray(code(np.array(values))), expected, rtol=1e-6)


@pytest.mark.parametrize("code, reference", CODES, ids=lambda c: getattr(c, "__name__", ""))
def test_kraft_inequality_for_every_prefix_up_to_2_pow_20(code, reference):
    """sum_{n=1..N} 2^-L(n) <= 1 for every N <= 2^20: each code is a prefix code (log* a
    proper prior). Checking all partial sums at once covers every N, not a sample of them."""
    lengths = np.asarray(code(np.arange(1, 2**20 + 1)), dtype=np.float64)
    partial_sums = np.cumsum(np.exp2(-lengths))
    assert partial_sums[-1] <= 1.0 + 1e-12
    assert np.all(np.diff(partial_sums) > 0)


@pytest.mark.parametrize("code, reference", CODES, ids=lambda c: getattr(c, "__name__", ""))
@given(n=st.integers(2**20, 2**31 - 1))
def test_kraft_tail_is_consistent_with_the_closed_form(code, reference, n):
    """Beyond the enumerated range, lengths keep matching the closed form, so the Kraft bound
    proven for the closed form (Elias 1975; Rissanen 1983) carries over."""
    assert float(code(n)) == pytest.approx(reference(n), rel=1e-6)


def test_kraft_sum_of_prefix_codes_approaches_one():
    # Gamma is complete: the first 2^k - 1 integers have Kraft sum exactly 1 - 2^-k.
    lengths = np.asarray(elias_gamma_bits(np.arange(1, 2**16)), dtype=np.float64)
    assert np.sum(np.exp2(-lengths)) == pytest.approx(1 - 2.0**-16, abs=1e-12)


@pytest.mark.parametrize("code", [c for c, _ in CODES])
def test_jit_and_vmap_agree_with_eager(code):
    n = jnp.arange(1, 300)
    eager = np.asarray(code(np.arange(1, 300)))
    np.testing.assert_array_equal(np.asarray(jax.jit(code)(n)), eager)
    np.testing.assert_array_equal(np.asarray(jax.vmap(code)(n)), eager)


@given(n=st.integers(0, 300_000), data=st.data())
def test_log2_binomial_matches_exact_integers(n, data):
    k = data.draw(st.integers(0, n))
    expected = math.log2(comb(n, k, exact=True))
    assert float(log2_binomial(n, k)) == pytest.approx(expected, rel=1e-5, abs=1e-3)


@given(k=positive_integers(10**6))
def test_uniform_bits(k):
    assert float(uniform_bits(k)) == pytest.approx(math.log2(k), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("code", [c for c, _ in CODES])
@pytest.mark.parametrize("bad", [0, -3, [1, 0, 2]])
def test_nonpositive_integers_are_refused(code, bad):
    with pytest.raises(ValueError, match="n must be integers >= 1"):
        code(bad)


def test_non_integers_and_overflow_are_refused():
    with pytest.raises(TypeError, match="n must hold integers"):
        elias_gamma_bits(2.5)
    with pytest.raises(ValueError, match="x64"):
        elias_gamma_bits(2**40)
    with pytest.raises(ValueError, match="k must be <= n"):
        log2_binomial(3, 4)
    with pytest.raises(ValueError, match="num_symbols must be integers >= 1"):
        uniform_bits(0)
