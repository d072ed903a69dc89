"""The public hypothesis strategies produce what they promise."""

import jax
import numpy as np
from hypothesis import given

from mdl.testing import (
    categorical_streams,
    labelled_predictions,
    param_pytrees,
    probability_matrices,
    probability_vectors,
    quantized_weights,
)


@given(probability_vectors())
def test_probability_vectors_are_distributions(probs):
    assert probs.ndim == 1 and probs.min() >= 0
    assert abs(probs.sum() - 1) < 1e-12


@given(probability_matrices())
def test_probability_matrices_rows_are_distributions(probs):
    assert probs.ndim == 2 and probs.min() >= 0
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-12)


@given(categorical_streams())
def test_streams_stay_in_their_alphabet(stream):
    probs, symbols = stream
    assert symbols.dtype == np.int64
    assert symbols.size == 0 or (0 <= symbols.min() and symbols.max() < probs.size)


@given(labelled_predictions())
def test_labelled_predictions_are_consistent(problem):
    probs, labels = problem
    assert labels.shape == (probs.shape[0],) and labels.max() < probs.shape[1]


@given(quantized_weights(size=16))
def test_quantized_weights_are_integers_of_the_requested_size(weights):
    loc, scale, symbols = weights
    assert symbols.shape == (16,) and symbols.dtype == np.int64 and scale > 0


@given(param_pytrees())
def test_param_pytrees_hold_finite_float_arrays(tree):
    leaves = jax.tree.leaves(tree)
    assert leaves and all(leaf.dtype == np.float32 and np.isfinite(leaf).all() for leaf in leaves)
