"""Numerical checks of the code-length identities derived in theory/ (one test per claim)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import betaln, logsumexp

from mdl.testing import probability_vectors

LN2 = math.log(2)


@given(prior=probability_vectors(2, 8), q=probability_vectors(2, 8), seed=st.integers(0, 10**6))
def test_bits_back_is_at_least_the_marginal_and_equal_at_the_posterior(prior, q, seed):
    """theory/bits_back.md: E_q[L(D|theta)] + KL(q||p) >= -log2 p(D), = iff q = posterior."""
    k = min(len(prior), len(q))
    prior, q = prior[:k] / prior[:k].sum(), q[:k] / q[:k].sum()
    rng = np.random.default_rng(seed)
    log_likelihood = rng.normal(-20, 5, size=k)  # ln p(D | theta_j), any values
    marginal_bits = -logsumexp(log_likelihood + np.log(prior)) / LN2

    def bits_back(posterior):
        support = posterior > 0
        kl = np.sum(posterior[support] * np.log(posterior[support] / prior[support])) / LN2
        return np.sum(posterior * -log_likelihood / LN2) + kl

    assert bits_back(q) >= marginal_bits - 1e-9
    exact_posterior = np.exp(
        log_likelihood + np.log(prior) - logsumexp(log_likelihood + np.log(prior))
    )
    assert bits_back(exact_posterior) == pytest.approx(marginal_bits, rel=1e-10, abs=1e-9)


@given(
    bits=st.lists(st.integers(0, 1), min_size=1, max_size=200),
    a=st.floats(0.1, 5),
    b=st.floats(0.1, 5),
)
def test_prequential_code_is_the_sum_of_predictive_losses_and_equals_the_bayes_marginal(bits, a, b):
    """theory/prequential.md: for a Beta(a, b)-Bernoulli model, the prequential code
    sum_t -log2 p(x_t | x_<t) equals -log2 of the marginal B(a + k, b + n - k) / B(a, b)."""
    ones = zeros = 0
    total = 0.0
    for x in bits:
        p_one = (ones + a) / (ones + zeros + a + b)
        total += -math.log2(p_one if x else 1 - p_one)
        ones, zeros = ones + x, zeros + (1 - x)
    marginal = -(betaln(a + ones, b + zeros) - betaln(a, b)) / LN2
    assert total == pytest.approx(marginal, rel=1e-9, abs=1e-9)


@given(probs=probability_vectors(1, 64))
def test_shannon_code_lengths_satisfy_kraft_and_cost_less_than_entropy_plus_one(probs):
    """theory/kraft_mcmillan.md: L_i = ceil(-log2 p_i) satisfies Kraft, and its expected length
    lies in [H, H + 1)."""
    positive = probs[probs > 0]
    lengths = np.ceil(-np.log2(positive))
    assert np.sum(2.0**-lengths) <= 1 + 1e-12
    entropy = -np.sum(positive * np.log2(positive))
    expected = np.sum(positive * lengths)
    assert entropy - 1e-9 <= expected < entropy + 1 + 1e-9
