"""The digits loader reads scikit-learn's file itself: the same images and labels as
``sklearn.datasets.load_digits``, split as documented."""

import numpy as np
import pytest

from mdl.data import load


def test_digits_equal_scikit_learns_loader():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    raw = sklearn_datasets.load_digits()
    data = load("digits")
    order = np.random.default_rng(0).permutation(len(raw.target))
    n_test = int(round(0.3 * len(raw.target)))
    np.testing.assert_array_equal(data.y_test, raw.target[order[:n_test]])
    np.testing.assert_array_equal(data.y_train, raw.target[order[n_test:]])
    expected = (raw.images[order[n_test:]] / 16.0).astype(np.float32)
    np.testing.assert_array_equal(data.x_train, expected)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert (len(data.y_train), len(data.y_test)) == (1258, 539)
