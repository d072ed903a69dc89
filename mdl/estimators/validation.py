"""Checks shared by the estimators: labelled data in the shape they need."""

from __future__ import annotations

import numpy as np


def check_labelled(x, y) -> tuple[np.ndarray, np.ndarray]:
    """``(x float32, y int64)`` after checking: non-empty, one label per example, labels >= 0."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"x must hold at least one example; got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"y must be one integer label per example, shape ({len(x)},); got {y.shape}"
        )
    if y.dtype.kind not in "iu" or (len(y) and y.min() < 0):
        raise ValueError(f"y must hold non-negative integer labels; got dtype {y.dtype}")
    return x.astype(np.float32), y.astype(np.int64)
