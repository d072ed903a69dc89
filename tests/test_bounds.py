"""Generalization bounds: the kl inverse against scipy, monotonicity, and Monte Carlo
validity on synthetic problems with a known true error."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.stats import beta as beta_distribution

from mdl.bounds import (
    binary_kl_bits,
    catoni_bound,
    chosen_index_bits,
    code_length_bound,
    grid_search_bits,
    kl_inverse,
    maurer_bound,
    mcallester_bound,
    occam_bound,
    occam_bound_hoeffding,
)

fractions = st.floats(0.0, 1.0)
costs = st.floats(0.0, 20.0)


def reference_kl_bits(q, p):
    terms = 0.0
    if q > 0:
        terms += q * math.log(q / p)
    if q < 1:
        terms += (1 - q) * math.log((1 - q) / (1 - p))
    return terms / math.log(2)


@given(q=st.floats(0.0, 0.9), c=st.floats(1e-4, 5.0))
@example(q=0.8984375, c=5.0)  # the root is within a float of 1: brentq has no bracket
def test_kl_inverse_inverts_the_binary_kl(q, c):
    """In float64, kl(q, kl_inverse(q, c)) = c to 1e-9; where the root is within 1e-6 of 1 and
    float64's spacing of p limits kl itself, p is the largest float with kl <= c up to 4 ulp."""
    with jax.enable_x64(True):
        p = float(kl_inverse(np.float64(q), np.float64(c)))
        if 1 - p > 1e-6:
            assert reference_kl_bits(q, p) == pytest.approx(c, rel=1e-9)
        else:
            assert reference_kl_bits(q, p) <= c * (1 + 1e-9)
            above = p + 4 * np.spacing(p)
            assert above >= 1 or reference_kl_bits(q, above) >= c * (1 - 1e-9)
        # scipy's root finder, independently, finds the same point; where even the largest
        # float below 1 keeps kl under c (q near 1, c large), the root is 1 itself in float64
        top = np.nextafter(1.0, 0.0)
        if reference_kl_bits(q, top) <= c:
            assert p >= top - 4 * np.spacing(top)
        else:
            expected = brentq(lambda x: reference_kl_bits(q, x) - c, q, top, xtol=1e-15)
            assert p == pytest.approx(expected, abs=1e-9)


@given(q=st.floats(0.0, 0.95), c1=costs, c2=costs)
def test_kl_inverse_is_monotone_in_c(q, c1, c2):
    lo, hi = sorted((c1, c2))
    assert float(kl_inverse(q, lo)) <= float(kl_inverse(q, hi)) + 1e-7


@given(q1=fractions, q2=fractions, c=costs)
def test_kl_inverse_is_monotone_in_q(q1, q2, c):
    lo, hi = sorted((q1, q2))
    assert float(kl_inverse(lo, c)) <= float(kl_inverse(hi, c)) + 1e-7


def test_kl_inverse_edges():
    assert float(kl_inverse(0.3, 0.0)) == pytest.approx(0.3, abs=1e-6)
    assert float(kl_inverse(1.0, 2.0)) == 1.0
    assert float(binary_kl_bits(0.5, 0.5)) == 0.0
    # kl(0 || p) = -log2(1 - p): closed form inverse p = 1 - 2^-c
    assert float(kl_inverse(0.0, 3.0)) == pytest.approx(1 - 2**-3, abs=1e-6)


BOUNDS = [occam_bound, occam_bound_hoeffding, mcallester_bound, maurer_bound, catoni_bound]


@pytest.mark.parametrize("bound", BOUNDS)
@given(q=st.floats(0.0, 0.5), l1=st.floats(0, 1e5), l2=st.floats(0, 1e5), m=st.integers(1, 10**6))
def test_bounds_exceed_the_empirical_error_and_shrink_with_the_code(bound, q, l1, l2, m):
    short, long = sorted((l1, l2))
    b_short, b_long = float(bound(q, short, m, 0.05)), float(bound(q, long, m, 0.05))
    assert q - 1e-6 <= b_short <= b_long + 1e-6 <= 1 + 2e-6


def test_kl_form_is_tighter_than_hoeffding():
    q, bits, m = 0.01, 5_000.0, 60_000
    assert float(occam_bound(q, bits, m, 0.05)) < float(occam_bound_hoeffding(q, bits, m, 0.05))


def test_known_value_from_the_closed_form():
    # Zero training errors: kl(0 || p) = -log2(1 - p) = (L + log2(1/delta)) / m
    bits, m, delta = 1000.0, 10_000, 0.01
    expected = 1 - 2 ** (-(bits + math.log2(1 / delta)) / m)
    assert float(occam_bound(0.0, bits, m, delta)) == pytest.approx(expected, rel=1e-5)


MC_DRAWS = 20_000  # Monte Carlo sample size; the failure rate's standard error is <= 0.0022


def test_occam_bound_fails_at_most_delta_of_the_time():
    """Hypotheses h_k (k = 1..50) with known true errors and Elias-gamma-priced codes; a learner
    that picks the hypothesis with the smallest training error (after seeing the data). Over
    20,000 independent training samples of m = 200, the bound for the chosen hypothesis must
    fail in at most delta + 3 standard errors of the draws. (A realistic use, but a weak test:
    the union bound leaves this learner far below delta. The sharp test is the next one.)"""
    rng = np.random.default_rng(0)
    k = np.arange(1, 51)
    true_error = 0.15 + 0.3 * rng.random(50)
    code_bits = 2 * np.floor(np.log2(k)) + 1  # Elias gamma: a prefix code over the k
    m, delta = 200, 0.1
    errors = rng.binomial(m, true_error, size=(MC_DRAWS, 50)) / m
    chosen = errors.argmin(axis=1)
    rows = np.arange(MC_DRAWS)
    bounds = np.asarray(occam_bound(errors[rows, chosen], code_bits[chosen], m, delta))
    failures = np.mean(true_error[chosen] > bounds)
    assert failures <= delta + 3 * math.sqrt(delta * (1 - delta) / MC_DRAWS)


# The Occam guarantee, exactly: a hypothesis described in L bits must be covered with
# probability >= 1 - alpha, alpha = delta 2^-L, whatever its true error. With k errors out of
# m that holds iff the bound is at least the binomial tail inversion, the p with
# P(Bin(m, p) <= k) = alpha (Clopper-Pearson's upper limit, scipy's beta.isf(alpha, k+1, m-k)).
# The kl form is not much looser: P(Bin(m, p) <= k) >= P(Bin(m, p) = k)
# >= 2^(-m kl(k/m || p)) / (m + 1) (method of types), so it is at most the inversion at
# alpha / (m + 1); at k = 0 the kl form is exact ((1 - p)^m = 2^(-m kl(0 || p))).
OCCAM_M, OCCAM_DELTA = 500, 1e-3
OCCAM_CODE_BITS = (0, 1, 4, 16, 64)


def occam_violations(bound, *, tight: bool = True) -> list[str]:
    """Where ``bound(train_error, code_bits, m, delta)`` breaks the exact Occam guarantee for
    m = 500, delta = 1e-3 and every error count k < m (or, with ``tight``, is looser than the
    method of types allows); an empty list when it breaks none."""
    m, errors = OCCAM_M, np.arange(OCCAM_M)
    found = []
    with jax.enable_x64(True):
        for bits in OCCAM_CODE_BITS:
            alpha = OCCAM_DELTA * 2.0**-bits
            got = np.asarray(bound(errors / m, np.full(m, float(bits)), m, OCCAM_DELTA))
            exact = beta_distribution.isf(alpha, errors + 1, m - errors)
            low = np.flatnonzero(got < exact - 1e-9)
            if low.size:
                k = low[0]
                found.append(f"L={bits}: k={k} bound {got[k]:.6f} < tail inversion {exact[k]:.6f}")
            loosest = beta_distribution.isf(alpha / (m + 1), errors + 1, m - errors)
            high = np.flatnonzero(got > loosest + 1e-9)
            if tight and high.size:
                k = high[0]
                found.append(f"L={bits}: k={k} bound {got[k]:.6f} > {loosest[k]:.6f}")
    return found


def test_occam_bound_is_the_binomial_tail_inversion_within_the_types_factor():
    assert occam_violations(occam_bound) == []
    # Hoeffding's form is valid too, only looser.
    assert occam_violations(occam_bound_hoeffding, tight=False) == []


def _complexity_bits(code_bits, m, extra):
    return (jnp.asarray(code_bits) + extra) / m


MUTANTS = {
    # The complexity without log2(1/delta): a 2^-L guarantee instead of delta 2^-L.
    "drops_delta": lambda q, bits, m, delta: kl_inverse(q, _complexity_bits(bits, m, 0.0)),
    # ln(1/delta) (nats) added to L (bits): delta counted as delta^(ln 2).
    "adds_nats_to_bits": lambda q, bits, m, delta: kl_inverse(
        q, _complexity_bits(bits, m, math.log(1 / delta))
    ),
    # The complexity in nats, (L ln 2 + ln(1/delta)) / m, given to a kl measured in bits.
    "nats_as_bits": lambda q, bits, m, delta: kl_inverse(
        q, _complexity_bits(bits, m, math.log2(1 / delta)) * math.log(2)
    ),
    # The complexity in bits given to a kl measured in nats (too loose).
    "bits_as_nats": lambda q, bits, m, delta: kl_inverse(
        q, _complexity_bits(bits, m, math.log2(1 / delta)) / math.log(2)
    ),
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_occam_check_catches_bounds_that_drop_delta_or_mix_units(name):
    """The check above has the power the Monte Carlo test lacks: each mistake fails it."""
    assert occam_violations(MUTANTS[name]), f"{name} passes the exact Occam check"


@pytest.mark.parametrize("bound", [mcallester_bound, maurer_bound, catoni_bound])
def test_pac_bayes_bounds_fail_at_most_delta_of_the_time(bound):
    """A Gibbs classifier Q over 20 hypotheses with known errors and a uniform prior P; KL(Q||P)
    in bits is exact. Training error of Q is its Q-weighted empirical error."""
    rng = np.random.default_rng(1)
    true_error = rng.uniform(0.05, 0.5, 20)
    posterior = rng.dirichlet(np.ones(20))
    kl_bits = float(np.sum(posterior * np.log2(posterior * 20)))
    m, delta = 100, 0.2
    empirical = rng.binomial(m, true_error, size=(MC_DRAWS, 20)) / m
    gibbs_train = empirical @ posterior
    bounds = np.asarray(bound(gibbs_train, kl_bits, m, delta))
    failures = np.mean(true_error @ posterior > bounds)
    assert failures <= delta + 3 * math.sqrt(delta * (1 - delta) / MC_DRAWS)


def test_code_length_bound_holds_for_bounded_losses():
    """Per-example losses in [0, 8] bits with known mean; one fixed model (0 bits)."""
    rng = np.random.default_rng(2)
    m, delta, max_bits = 50, 0.1, 8.0
    losses = max_bits * rng.beta(2, 5, size=(MC_DRAWS, m))
    true_mean = max_bits * 2 / 7
    bounds = np.asarray(code_length_bound(losses.mean(axis=1), max_bits, 0.0, m, delta))
    assert np.mean(true_mean > bounds) <= delta + 3 * math.sqrt(delta * (1 - delta) / MC_DRAWS)
    assert np.all(bounds >= losses.mean(axis=1) - 1e-5)


def test_hyperparameter_search_costs():
    assert grid_search_bits(64) == 6.0
    assert float(chosen_index_bits(0)) < float(chosen_index_bits(100))
    with pytest.raises(ValueError, match="grid_size must be a positive integer"):
        grid_search_bits(0)


def test_bounds_are_jittable():
    jitted = jax.jit(occam_bound)(jnp.float32(0.1), jnp.float32(100.0), 1000, 0.05)
    assert float(jitted) == pytest.approx(float(occam_bound(0.1, 100.0, 1000, 0.05)), rel=1e-6)


@pytest.mark.parametrize("bound", BOUNDS)
def test_bad_input_is_refused(bound):
    with pytest.raises(ValueError, match=r"delta must lie in \(0, 1\)"):
        bound(0.1, 10.0, 100, 1.0)
    with pytest.raises(ValueError, match=r"delta must lie in \(0, 1\)"):
        bound(0.1, 10.0, 100, 0.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        bound(0.1, -1.0, 100, 0.05)
    with pytest.raises(ValueError, match="m \\(the number of examples\\) must be >= 1"):
        bound(0.1, 10.0, 0, 0.05)
    with pytest.raises(ValueError, match=r"train_error must lie in \[0, 1\]"):
        bound(1.5, 10.0, 100, 0.05)
