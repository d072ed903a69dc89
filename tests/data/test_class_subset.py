"""with_classes keeps exactly the examples of the named classes, in order, in both splits, and
refuses classes the data set does not have."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.data import Dataset, with_classes


def labelled(y_train, y_test):
    y_train, y_test = np.asarray(y_train, np.int32), np.asarray(y_test, np.int32)
    return Dataset(
        x_train=np.arange(len(y_train), dtype=np.float32)[:, None],
        y_train=y_train,
        x_test=-np.arange(len(y_test), dtype=np.float32)[:, None],
        y_test=y_test,
        num_classes=5,
        input_shape=(1,),
        source="test",
    )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 4), max_size=40),
    st.lists(st.integers(0, 4), max_size=20),
    st.sets(st.integers(0, 4), min_size=1),
)
def test_the_kept_examples_are_those_of_the_classes_in_order(y_train, y_test, keep):
    data = with_classes(labelled(y_train, y_test), sorted(keep))
    want_train = [i for i, y in enumerate(y_train) if y in keep]  # a plain loop, not np.isin
    want_test = [i for i, y in enumerate(y_test) if y in keep]
    assert data.x_train[:, 0].tolist() == want_train
    assert data.y_train.tolist() == [y_train[i] for i in want_train]
    assert (-data.x_test[:, 0]).tolist() == want_test
    assert data.y_test.tolist() == [y_test[i] for i in want_test]
    assert data.num_classes == 5


def test_unknown_or_empty_classes_are_refused():
    data = labelled([0, 1, 2], [3])
    with pytest.raises(ValueError, match="at least one class"):
        with_classes(data, [])
    with pytest.raises(ValueError, match=r"in \[0, 5\)"):
        with_classes(data, [2, 5])
    with pytest.raises(ValueError, match=r"in \[0, 5\)"):
        with_classes(data, [-1])
