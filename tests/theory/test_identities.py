"""The code-length identities derived in theory/, checked on the library's own code.

Each test feeds the library a model whose code length is known in closed form (a conjugate
Gaussian, a Beta-Bernoulli predictor, a probability vector) and compares what the library
computes, or writes to a file, with that closed form computed here by numpy and scipy.
"""

import math
from fractions import Fraction

import jax
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import betaln
from scipy.stats import multivariate_normal

from mdl import codec, codes
from mdl.codec import container
from mdl.codec.stream import LabelChunkDecoder, encode_label_chunks
from mdl.codes import bernoulli_bits, categorical_bits
from mdl.estimators import GaussianPosterior, kl_bits
from mdl.testing import probability_vectors

LN2 = math.log(2)


# --- Bits back --------------------------------------------------------------------------------
# A conjugate model the variational estimator's KL term can be checked on: each parameter
# theta_j ~ N(0, v) (one v per tensor, as kl_bits assumes), observed n times with Gaussian noise
# of variance s2. The marginal likelihood is maximized at v_hat = mean(ybar_j^2) - s2 / n
# (ybar_j ~ N(0, v + s2/n) is sufficient), and the exact posterior under v_hat is Gaussian, so
# the bits-back length of the exact posterior must equal -log2 p_{v_hat}(D).


def gaussian_problem(seed: int, sizes: tuple[int, ...], n: int, s2: float):
    """Per tensor, observations y [N, n] and the best prior variance v_hat; and the exact
    posterior under v_hat (mean and log sigma per parameter, float32 as the library's)."""
    rng = np.random.default_rng(seed)
    observed, mean, log_sigma = {}, {}, {}
    for i, size in enumerate(sizes):
        theta = rng.normal(0, math.sqrt(rng.uniform(4.0, 8.0)), size)
        y = theta[:, None] + rng.normal(0, math.sqrt(s2), (size, n))
        v_hat = np.mean(y.mean(axis=1) ** 2) - s2 / n
        assert v_hat > 0  # all but surely: v >= 4, s2 / n <= 0.5, N >= 16
        precision = 1 / v_hat + n / s2
        name = f"tensor{i}"
        observed[name] = (y, v_hat)
        mean[name] = (y.sum(axis=1) / s2 / precision).astype(np.float32)
        log_sigma[name] = np.full(size, -0.5 * math.log(precision), np.float32)
    return observed, GaussianPosterior(mean, log_sigma)


def expected_data_bits(observed, posterior, s2: float) -> float:
    """E_q[-log2 p(D | theta)] for Gaussian noise, in closed form (bits)."""
    total = 0.0
    for name, (y, _) in observed.items():
        mu = posterior.mean[name].astype(np.float64)[:, None]
        var = np.exp(2 * posterior.log_sigma[name].astype(np.float64))[:, None]
        total += np.sum(((y - mu) ** 2 + var) / (2 * s2) + 0.5 * math.log(2 * math.pi * s2))
    return total / LN2


def marginal_bits(observed, s2: float) -> float:
    """-log2 p_{v_hat}(D): each parameter's n observations are N(0, s2 I + v_hat 11^T)."""
    total = 0.0
    for y, v_hat in observed.values():
        n = y.shape[1]
        cov = s2 * np.eye(n) + v_hat * np.ones((n, n))
        total -= multivariate_normal(np.zeros(n), cov).logpdf(y).sum()
    return total / LN2


@settings(max_examples=20)
@given(
    seed=st.integers(0, 10**6),
    sizes=st.lists(st.sampled_from((16, 32)), min_size=1, max_size=3).map(tuple),
    n=st.integers(1, 6),
    s2=st.floats(0.05, 0.5),
    perturbation=st.floats(0.05, 1.0),
)
def test_bits_back_is_at_least_the_marginal_and_equal_at_the_posterior(
    seed, sizes, n, s2, perturbation
):
    """theory/bits_back.md: E_q[L(D|theta)] + KL(q||p) >= -log2 p(D), = iff q = posterior.

    KL(q||p) is the library's ``kl_bits`` (which picks each tensor's prior variance itself);
    the data term and the marginal are closed forms (scipy's multivariate normal)."""
    observed, posterior = gaussian_problem(seed, sizes, n, s2)
    marginal = marginal_bits(observed, s2)
    at_posterior = expected_data_bits(observed, posterior, s2) + float(kl_bits(posterior))
    assert at_posterior == pytest.approx(marginal, rel=1e-5, abs=1e-3)
    # Any other q costs more: move the means and widths away from the posterior's.
    rng = np.random.default_rng(seed + 1)

    def moved(tree):
        return {
            k: v + np.float32(perturbation) * rng.normal(size=v.shape).astype(np.float32)
            for k, v in tree.items()
        }

    other = GaussianPosterior(moved(posterior.mean), moved(posterior.log_sigma))
    elsewhere = expected_data_bits(observed, other, s2) + float(kl_bits(other))
    assert elsewhere > marginal + 1e-3


# --- Prequential = Bayes marginal -------------------------------------------------------------


def beta_bernoulli_p_one(past, a: float, b: float) -> float:
    """p(x_t = 1 | x_<t) = (ones + a) / (t + a + b)."""
    return (sum(past) + a) / (len(past) + a + b)


@settings(max_examples=30)
@given(
    bits=st.lists(st.integers(0, 1), min_size=1, max_size=200),
    a=st.floats(0.1, 5),
    b=st.floats(0.1, 5),
)
def test_prequential_code_is_the_sum_of_predictive_losses_and_equals_the_bayes_marginal(bits, a, b):
    """theory/prequential.md: for a Beta(a, b)-Bernoulli model, the prequential code
    sum_t -log2 p(x_t | x_<t) equals -log2 of the marginal B(a + k, b + n - k) / B(a, b).

    The per-label losses are the library's ``bernoulli_bits``; the real online code is the
    library's label-chunk stream (one chunk per label), decoded label by label with the
    predictor rebuilt from the labels decoded so far."""
    x = np.asarray(bits)
    ones = int(x.sum())
    marginal = -(betaln(a + ones, b + len(x) - ones) - betaln(a, b)) / LN2
    p_one = np.array([beta_bernoulli_p_one(bits[:t], a, b) for t in range(len(bits))])
    logits = np.zeros(200)  # padded to the longest list: one compiled shape
    logits[: len(x)] = np.log(p_one) - np.log1p(-p_one)
    with jax.enable_x64(True):
        losses = np.asarray(bernoulli_bits(logits, np.pad(x, (0, 200 - len(x))).astype(float)))
    losses = losses[: len(x)]
    assert float(np.sum(losses)) == pytest.approx(marginal, rel=1e-9, abs=1e-9)

    chunks = [(np.array([[1 - p, p]]), x[t : t + 1]) for t, p in enumerate(p_one)]
    data = encode_label_chunks(chunks)
    decoder = LabelChunkDecoder(data)
    decoded: list[int] = []
    while decoder.next_size is not None:
        p = beta_bernoulli_p_one(decoded, a, b)  # the receiver's own predictor
        decoded.extend(int(v) for v in decoder.decode(np.array([[1 - p, p]])))
    assert decoder.finish().tolist() == bits == decoded
    # The coded words hold the information content, the 32-bit sentinel and at most two words
    # of coder state, and lose at most 0.1% to the coder's 24-bit probabilities.
    coded = 8 * len(container.unpack(data, "LABC")["RANS"])
    assert marginal - 1e-6 <= coded <= marginal * 1.001 + 32 + 64


# --- Kraft-McMillan and Shannon ---------------------------------------------------------------


@given(probs=probability_vectors(1, 64))
@example(probs=np.array([1 - 2.79e-10, 2.79e-10]))  # -log2 p_0 = 4e-10 still rounds up to 1
def test_shannon_code_lengths_satisfy_kraft_and_cost_less_than_entropy_plus_one(probs):
    """theory/kraft_mcmillan.md: the library's code lengths -log2 p_i (``categorical_bits``,
    given unnormalized logits) are those of numpy, have Kraft sum exactly one, and their
    integer round-up L_i = ceil(-log2 p_i) satisfies Kraft with expected length in [H, H + 1)."""
    # Logits need not be normalized; padded to 64 classes (one compiled shape) with classes
    # of probability e^-1000, which vanish from the normalizer in float64.
    k = len(probs)
    logits = np.full(64, -1000.0)
    logits[:k] = np.log(probs) + np.random.default_rng(k).normal(0, 3)
    with jax.enable_x64(True):
        lengths = np.asarray(categorical_bits(np.tile(logits, (64, 1)), np.arange(64)))[:k]
    np.testing.assert_allclose(lengths, -np.log2(probs), rtol=1e-9, atol=1e-9)
    assert np.sum(2.0**-lengths) == pytest.approx(1.0, abs=1e-9)
    integer_lengths = np.ceil(lengths - 1e-12)  # float64 rounding of exact integers
    assert np.sum(2.0**-integer_lengths) <= 1 + 1e-12
    entropy = -np.sum(probs * np.log2(probs))
    expected = np.sum(probs * integer_lengths)
    assert entropy - 1e-9 <= expected < entropy + 1 + 1e-9


ELIAS = [  # (encoder, decoder, code length) of each Elias code
    (
        getattr(codec, f"encode_elias_{c}"),
        getattr(codec, f"decode_elias_{c}"),
        getattr(codes, f"elias_{c}_bits"),
    )
    for c in ("gamma", "delta", "omega")
]


def codeword(encode, n: int, length: int) -> str:
    """The first ``length`` bits of the library's bytes for ``n``; the rest is zero padding."""
    data = encode([n])
    assert len(data) == math.ceil(length / 8)
    text = "".join(format(byte, "08b") for byte in data)
    assert set(text[length:]) <= {"0"}
    return text[:length]


@pytest.mark.parametrize("encode, decode, length", ELIAS, ids=["gamma", "delta", "omega"])
def test_elias_codewords_are_prefix_free_and_satisfy_kraft(encode, decode, length):
    """theory/kraft_mcmillan.md, claim 1, on the library's real codewords for 1..4096: no
    codeword is a prefix of another, the lengths are those of ``mdl.codes``, their Kraft sum
    (exact fractions) stays below one, and a concatenation decodes back uniquely."""
    values = np.arange(1, 4097)
    lengths = np.asarray(length(values), dtype=np.int64)
    words = sorted(codeword(encode, int(n), int(L)) for n, L in zip(values, lengths, strict=True))
    # In lexicographic order a codeword that prefixes another prefixes its successor.
    for first, second in zip(words, words[1:], strict=False):
        assert not second.startswith(first), (first, second)
    assert sum(Fraction(1, 2 ** int(L)) for L in lengths) < 1
    message = np.random.default_rng(0).permutation(values)[:500]
    assert decode(encode(message.tolist()), len(message)).tolist() == message.tolist()
