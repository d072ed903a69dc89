"""The validation protocol: choices see training data only; the test set is read once, after.

Every experiment chooses its settings (beta, widths, epochs, learning rates) either

* on a **validation split** carved from the training set (`validation_split`: the returned
  data set trains on the rest and "tests" on the validation examples, so `mdl.train.fit`'s
  evaluations, early stopping and any selection see training data only), or
* by a **code length on the training set** (`without_test`: the returned data set has an empty
  test split, so `mdl.train.fit` evaluates nothing else),

and reads the real test split once, for the chosen configuration, after the choice. Passing
either data set to the search and keeping the original for the final evaluation makes the
protocol visible in code: the search cannot touch what it is not given.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mdl.data.dataset import Dataset


def validation_split(data: Dataset, fraction: float = 0.1, *, seed: int = 0) -> Dataset:
    """``data``'s training set split into a training part and a validation part.

    The validation examples are a uniformly random ``fraction`` of the training set (a
    permutation drawn with numpy's PCG64 from ``seed``); the training part keeps its original
    order. The test split of the result *is the validation split*; the real test split is not
    in it.

    Args:
      data: the full data set.
      fraction: the share of training examples held out, in (0, 1).
      seed: the permutation's seed.

    Returns:
      A `Dataset` with ``x_train``/``y_train`` the rest, ``x_test``/``y_test`` the validation
      examples, and ``extras["held_out"] = "validation"``. Other ``extras`` are carried over
      as they are: arrays there that describe the original test split (a formal language's
      ``allowed_next``) do not describe the validation split.

    Raises:
      ValueError: if ``fraction`` is not in (0, 1) or leaves either part empty.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}")
    n = len(data.y_train)
    count = int(round(fraction * n))
    if not 0 < count < n:
        raise ValueError(
            f"a validation fraction of {fraction} of {n} training examples leaves "
            f"{count} for validation and {n - count} for training; both must be >= 1"
        )
    held = np.zeros(n, dtype=bool)
    held[np.random.default_rng(seed).permutation(n)[:count]] = True
    return replace(
        data,
        x_train=data.x_train[~held],
        y_train=data.y_train[~held],
        x_test=data.x_train[held],
        y_test=data.y_train[held],
        source=f"{data.source} (training set less a {fraction:g} validation split, seed {seed})",
        extras={**data.extras, "held_out": "validation"},
    )


def without_test(data: Dataset) -> Dataset:
    """``data`` with an empty test split: for choices made by a code length on the training
    set, so that nothing downstream (`mdl.train.fit`'s evaluations included) reads the test set.

    Returns:
      A `Dataset` with the same training split and zero test examples (shapes kept), and
      ``extras["held_out"] = "none"``.
    """
    return replace(
        data,
        x_test=data.x_test[:0],
        y_test=data.y_test[:0],
        source=f"{data.source} (test split withheld)",
        extras={**data.extras, "held_out": "none"},
    )
