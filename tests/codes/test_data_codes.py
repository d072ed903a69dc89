"""Data codes against independent computations (numpy, scipy), and their fit checks."""

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mdl.codes.data_codes import (
    PADDING,
    bernoulli,
    categorical,
    data_code,
    default_data_code,
    discretized_gaussian,
    discretized_logistic,
    next_token,
)

# No subnormals: XLA:CPU flushes them to zero, so [0, 3e-39] is a tie to jax and not to numpy.
finite = st.floats(-20, 20, width=32, allow_subnormal=False)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_next_token_bits_sum_the_real_tokens_only(data):
    n, t, v = (
        data.draw(st.integers(1, 4)),
        data.draw(st.integers(1, 6)),
        data.draw(st.integers(2, 5)),
    )
    logits = data.draw(arrays(np.float32, (n, t, v), elements=finite))
    tokens = data.draw(arrays(np.int32, (n, t), elements=st.integers(0, v - 1)))
    padded = data.draw(arrays(np.bool_, (n, t)))
    targets = np.where(padded, PADDING, tokens)
    log_p = scipy.special.log_softmax(logits.astype(np.float64), axis=-1)
    picked = np.take_along_axis(log_p, tokens[..., None], -1)[..., 0]
    expected = -np.where(padded, 0.0, picked).sum(-1) / np.log(2)
    code = next_token()
    np.testing.assert_allclose(code.bits(logits, targets), expected, rtol=1e-4, atol=1e-3)
    wrong, count = code.errors(logits, targets)
    np.testing.assert_array_equal(count, (~padded).sum(-1))
    np.testing.assert_array_equal(wrong, ((logits.argmax(-1) != tokens) & ~padded).sum(-1))


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_categorical_and_bernoulli_against_scipy(data):
    n, k = data.draw(st.integers(1, 5)), data.draw(st.integers(2, 6))
    logits = data.draw(arrays(np.float32, (n, k), elements=finite))
    labels = data.draw(arrays(np.int32, (n,), elements=st.integers(0, k - 1)))
    expected = -scipy.special.log_softmax(logits.astype(np.float64), -1)[np.arange(n), labels]
    np.testing.assert_allclose(
        categorical().bits(logits, labels), expected / np.log(2), rtol=1e-4, atol=1e-3
    )
    binary = data.draw(arrays(np.int32, (n, k), elements=st.integers(0, 1)))
    x = logits.astype(np.float64)
    log_p = np.where(binary == 1, scipy.special.log_expit(x), scipy.special.log_expit(-x))
    np.testing.assert_allclose(
        bernoulli().bits(logits, binary), -log_p.sum(-1) / np.log(2), rtol=1e-4, atol=1e-3
    )
    wrong, count = bernoulli().errors(logits, binary)
    np.testing.assert_array_equal(count, np.full(n, k))
    np.testing.assert_array_equal(wrong, ((logits > 0) != (binary == 1)).sum(-1))


@pytest.mark.parametrize(
    "code, dist",
    [
        (discretized_gaussian(0.05), scipy.stats.norm),
        (discretized_logistic(0.05), scipy.stats.logistic),
    ],
)
def test_discretized_codes_are_bin_masses(code, dist):
    rng = np.random.default_rng(0)
    mean, log_scale = rng.normal(size=(6, 3)), rng.normal(scale=0.5, size=(6, 3))
    y = np.round(rng.normal(size=(6, 3)) / 0.05) * 0.05
    outputs = np.stack([mean, log_scale], -1).astype(np.float32)
    scale = np.exp(log_scale)
    mass = dist.cdf((y + 0.025 - mean) / scale) - dist.cdf((y - 0.025 - mean) / scale)
    expected = -np.log2(mass).sum(-1)
    np.testing.assert_allclose(code.bits(outputs, y.astype(np.float32)), expected, rtol=1e-3)
    assert not code.bounded_error
    assert code.describe() == {"name": code.name, "bin_width": 0.05}
    assert data_code(code.describe()) is code  # cached: one object, one compiled program


def test_codes_refuse_data_they_cannot_code():
    images = np.zeros((4, 8, 8), np.float32)
    with pytest.raises(ValueError, match="next_token code needs token sequences"):
        next_token().check(np.zeros((4,), np.int32), (10,))
    with pytest.raises(ValueError, match="needs logits of shape \\[T, V\\]"):
        next_token().check(np.zeros((4, 5), np.int32), (10,))
    with pytest.raises(ValueError, match="categorical code needs one label per example"):
        categorical().check(np.zeros((4, 5), np.int32), (10,))
    with pytest.raises(ValueError, match="labels must lie in \\[0, 3\\)"):
        categorical().check(np.array([0, 3]), (3,))
    with pytest.raises(ValueError, match="real-valued targets"):
        discretized_gaussian(0.1).check(np.zeros((4,), np.int32), None)
    with pytest.raises(ValueError, match="bernoulli code needs targets in"):
        bernoulli().check(np.full((4, 2), 2), (2,))
    with pytest.raises(ValueError, match="finite bin_width > 0"):
        discretized_gaussian(0.0)
    with pytest.raises(ValueError, match="unknown data code 'poisson'"):
        data_code("poisson")
    with pytest.raises(ValueError, match="does not take options"):
        data_code({"name": "categorical", "bin_width": 1.0})
    with pytest.raises(ValueError, match="no default data code"):
        default_data_code(images)
    assert default_data_code(np.zeros(3, np.int64)) is categorical()
    assert default_data_code(np.zeros((3, 4), np.int64)) is next_token()
