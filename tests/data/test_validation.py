"""The validation protocol's data sets: a split that partitions the training set and holds no
test example, and a withheld test split that `fit` never evaluates."""

import numpy as np
import optax
import pytest
from flax import nnx

from mdl.data import Dataset, load, validation_split, without_test
from mdl.models import MLP
from mdl.train import fit


def numbered(n_train: int, n_test: int) -> Dataset:
    """Examples whose single feature is their identity: train 0..n-1, test 1000+."""
    x_train = np.arange(n_train, dtype=np.float32)[:, None]
    x_test = 1000 + np.arange(n_test, dtype=np.float32)[:, None]
    return Dataset(
        x_train=x_train,
        y_train=np.arange(n_train) % 3,
        x_test=x_test,
        y_test=np.arange(n_test) % 3,
        num_classes=3,
        input_shape=(1,),
        source="numbered",
    )


@pytest.mark.parametrize(("n", "fraction", "held"), [(100, 0.1, 10), (7, 0.5, 4), (60, 0.25, 15)])
def test_validation_split_partitions_the_training_set(n, fraction, held):
    data = numbered(n, 5)
    split = validation_split(data, fraction, seed=3)
    train_ids = split.x_train[:, 0].astype(int)
    valid_ids = split.x_test[:, 0].astype(int)
    assert len(valid_ids) == held and len(train_ids) == n - held
    assert sorted([*train_ids, *valid_ids]) == list(range(n))  # a partition, nothing lost
    assert np.all(np.diff(train_ids) > 0)  # the training part keeps its order
    assert np.array_equal(split.y_train, train_ids % 3)  # labels travel with their images
    assert np.array_equal(split.y_test, valid_ids % 3)
    assert split.extras["held_out"] == "validation"
    assert not np.any(split.x_test >= 1000) and not np.any(split.x_train >= 1000)  # no test


def test_validation_split_is_seeded():
    data = numbered(50, 5)
    first, again = validation_split(data, seed=1), validation_split(data, seed=1)
    other = validation_split(data, seed=2)
    assert np.array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_validation_split_rejects_a_fraction_outside_the_open_interval(fraction):
    with pytest.raises(ValueError, match="fraction must be in"):
        validation_split(numbered(10, 2), fraction)


def test_validation_split_rejects_an_empty_part():
    with pytest.raises(ValueError, match="both must be >= 1"):
        validation_split(numbered(3, 2), 0.1)  # rounds to zero validation examples


def test_without_test_keeps_training_and_fit_reads_no_test_example():
    data = load("digits")
    withheld = without_test(data)
    assert len(withheld.y_test) == 0 and withheld.x_test.shape[1:] == data.x_test.shape[1:]
    assert np.array_equal(withheld.x_train, data.x_train)
    model = MLP([64, 8, 10], rngs=nnx.Rngs(0))
    result = fit(model, withheld, optimizer=optax.adam(1e-2), epochs=2, batch_size=64)
    assert [row["test_error"] for row in result.history] == [None, None]
    assert all(row["train_error"] < 0.9 for row in result.history)
    with pytest.raises(ValueError, match="needs a test split"):
        fit(model, withheld, epochs=1, keep_best="test_error")
