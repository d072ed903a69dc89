"""A data set restricted to some of its classes (the source and target tasks of adaptation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mdl.data.dataset import Dataset


def with_classes(data: Dataset, keep: Sequence[int]) -> Dataset:
    """``data`` with only the examples whose label is in ``keep``, in both splits (their order
    kept). ``num_classes`` is unchanged: a model's head still has an output per label value, so
    digits 5-9 keep their labels 5-9.

    Args:
      data: a data set with one integer label per example.
      keep: the label values to keep, each in ``[0, num_classes)``.

    Returns:
      A `Dataset` with the same metadata and the kept examples.

    Raises:
      ValueError: for an empty ``keep``, a label value outside ``[0, num_classes)``, or labels
        that are not one per example.
    """
    keep = np.asarray(list(keep))
    if keep.size == 0:
        raise ValueError("keep must name at least one class")
    if keep.dtype.kind not in "iu" or keep.min() < 0 or keep.max() >= data.num_classes:
        raise ValueError(
            f"keep must hold integer labels in [0, {data.num_classes}); got {keep.tolist()}"
        )
    if np.ndim(data.y_train) != 1 or np.ndim(data.y_test) != 1:
        raise ValueError("with_classes needs one label per example (1-D y_train and y_test)")
    train, test = np.isin(data.y_train, keep), np.isin(data.y_test, keep)
    return replace(
        data,
        x_train=data.x_train[train],
        y_train=data.y_train[train],
        x_test=data.x_test[test],
        y_test=data.y_test[test],
    )
