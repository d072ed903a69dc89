"""Data codes: how a model's outputs code its targets, as one pluggable object per kind of data.

A `DataCode` turns ``(outputs, targets)`` into bits per example, ``L(y_i | x_i)``, so the
training loss ``sum_i L(y_i | x_i) + beta x L(model)``, the estimators and the target files
(`mdl.codec.targets`) all take the same object and agree on what a bit of data is:

==================  =========================  ===============================  ==============
code                outputs                    targets                          per example
==================  =========================  ===============================  ==============
``categorical``     logits ``[n, K]``          ints in ``[0, K)``, ``[n]``      one label
``bernoulli``       logits ``[n, M]``          0/1, ``[n, M]``                  M binary labels
``next_token``      logits ``[n, T, V]``       ints ``[n, T]``, -1 = padding    a sequence
``discretized_*``   ``[n, ..., 2]`` (mean,     floats ``[n, ...]`` recorded to  a real vector
                    log scale)                 ``bin_width``
==================  =========================  ===============================  ==============

``errors(outputs, targets) -> (wrong, count)`` per example: misclassified labels (or tokens, or
binary labels) and how many there were, so an error rate is ``sum(wrong) / sum(count)``; for
the discretized codes ``wrong`` is the squared error and ``count`` the number of values (a mean
squared error, which no 0-1 bound applies to: ``bounded_error`` is False). ``check(targets,
output_shape)`` refuses a code that does not fit the data before any training.

Every function is jit- and vmap-compatible; the per-kind math is in `mdl.codes.data`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mdl.codes.data import (
    bernoulli_bits,
    categorical_bits,
    discretized_gaussian_bits,
    discretized_logistic_bits,
)

PADDING = -1  # next-token targets at padded positions: coded by nothing, counted nowhere


class DataCode(NamedTuple):
    """A code for targets given a model's outputs (see the module doc). Its file, the bits made
    real, is `mdl.codec.targets.encode_targets` (the codec keys its format on ``name``).

    Attributes:
      name: the registry name (``DATA_CODES``), stored in sweep configs and files.
      bits: ``(outputs, targets) -> [n]`` bits per example, ``-log2 p(y_i | outputs_i)``.
      errors: ``(outputs, targets) -> ([n] wrong, [n] count)``.
      check: ``(targets, output_shape) -> None``, raising ValueError when the code cannot code
        these targets with outputs of that shape (``output_shape`` is one example's, or None
        when unknown).
      options: the code's settings as sorted ``(name, value)`` pairs (hashable, so a data code
        can key compiled programs); `describe` gives them as a dict.
      bounded_error: whether ``errors`` is a 0-1 loss (Occam bounds apply).
    """

    name: str
    bits: Callable[[Any, Any], jax.Array]
    errors: Callable[[Any, Any], tuple[jax.Array, jax.Array]]
    check: Callable[[np.ndarray, tuple | None], None]
    options: tuple
    bounded_error: bool = True

    def describe(self) -> dict:
        """``{"name": ..., **options}``: what `data_code` rebuilds it from."""
        return {"name": self.name, **dict(self.options)}


def _integer_targets(targets: np.ndarray, what: str) -> None:
    if targets.dtype.kind not in "iu":
        raise ValueError(f"the {what} code needs integer targets; got dtype {targets.dtype}")


@functools.cache
def categorical() -> DataCode:
    """One class label per example, ``-log2 softmax(logits)[y]`` (the usual classifier)."""

    def errors(logits, labels):
        wrong = (jnp.argmax(logits, -1) != labels).astype(jnp.float32)
        return wrong, jnp.ones_like(wrong)

    def check(targets, output_shape):
        targets = np.asarray(targets)
        if targets.ndim != 1:
            raise ValueError(
                f"the categorical code needs one label per example (targets of shape [n]); got "
                f"targets of shape {targets.shape}: use next_token for sequences, bernoulli for "
                "multi-label targets"
            )
        _integer_targets(targets, "categorical")
        if output_shape is not None:
            if len(output_shape) != 1:
                raise ValueError(
                    f"the categorical code needs logits of shape [K] per example; the model "
                    f"outputs {tuple(output_shape)}"
                )
            if targets.size and (targets.min() < 0 or targets.max() >= output_shape[0]):
                raise ValueError(
                    f"labels must lie in [0, {output_shape[0]}) for a model with "
                    f"{output_shape[0]} outputs; got [{targets.min()}, {targets.max()}]"
                )

    return DataCode("categorical", categorical_bits, errors, check, ())


@functools.cache
def bernoulli() -> DataCode:
    """``M`` independent binary labels per example, ``p(1) = sigmoid(logit)`` each."""

    def bits(logits, targets):
        per_label = bernoulli_bits(logits, targets)
        return per_label.reshape(per_label.shape[0], -1).sum(-1)

    def errors(logits, targets):
        wrong = ((logits > 0) != (targets > 0.5)).astype(jnp.float32)
        wrong = wrong.reshape(wrong.shape[0], -1)
        return wrong.sum(-1), jnp.full(wrong.shape[:1], wrong.shape[1], jnp.float32)

    def check(targets, output_shape):
        targets = np.asarray(targets)
        if targets.ndim < 2:
            raise ValueError(
                f"the bernoulli code needs targets of shape [n, M] (M binary labels each); got "
                f"{targets.shape}"
            )
        if not np.isin(targets, (0, 1)).all():
            raise ValueError("the bernoulli code needs targets in {0, 1}")
        if output_shape is not None and tuple(output_shape) != targets.shape[1:]:
            raise ValueError(
                f"the bernoulli code needs one logit per binary label, shape "
                f"{targets.shape[1:]}; the model outputs {tuple(output_shape)}"
            )

    return DataCode("bernoulli", bits, errors, check, ())


@functools.cache
def next_token() -> DataCode:
    """Sequences: ``sum_t -log2 softmax(logits_t)[y_t]`` over the positions with
    ``y_t != PADDING`` (-1), so padded batches of strings of different lengths code exactly the
    real symbols. ``errors`` counts wrongly predicted real tokens."""

    def bits(logits, targets):
        valid = targets != PADDING
        per_token = categorical_bits(logits, jnp.where(valid, targets, 0))
        return jnp.where(valid, per_token, 0.0).sum(-1)

    def errors(logits, targets):
        valid = targets != PADDING
        wrong = (jnp.argmax(logits, -1) != targets) & valid
        return wrong.sum(-1).astype(jnp.float32), valid.sum(-1).astype(jnp.float32)

    def check(targets, output_shape):
        targets = np.asarray(targets)
        if targets.ndim != 2:
            raise ValueError(
                f"the next_token code needs token sequences, targets of shape [n, T]; got "
                f"{targets.shape}"
            )
        _integer_targets(targets, "next_token")
        if output_shape is not None:
            if len(output_shape) != 2 or output_shape[0] != targets.shape[1]:
                raise ValueError(
                    f"the next_token code needs logits of shape [T, V] = [{targets.shape[1]}, V] "
                    f"per example; the model outputs {tuple(output_shape)}"
                )
            real = targets[targets != PADDING]
            if real.size and (real.min() < 0 or real.max() >= output_shape[1]):
                raise ValueError(
                    f"tokens must lie in [0, {output_shape[1]}) (or be {PADDING} for padding); "
                    f"got [{real.min()}, {real.max()}]"
                )

    return DataCode("next_token", bits, errors, check, ())


def _discretized(name: str, per_value: Callable, bin_width: float) -> DataCode:
    if not (isinstance(bin_width, int | float) and math.isfinite(bin_width) and bin_width > 0):
        raise ValueError(f"{name} needs a finite bin_width > 0 (the targets' resolution)")
    return _discretized_code(name, per_value, float(bin_width))


@functools.cache  # one object per setting: it keys compiled programs
def _discretized_code(name: str, per_value: Callable, bin_width: float) -> DataCode:
    def bits(outputs, targets):
        values = per_value(outputs[..., 0], outputs[..., 1], targets, bin_width)
        return values.reshape(values.shape[0], -1).sum(-1)

    def errors(outputs, targets):
        squared = ((outputs[..., 0] - targets) ** 2).reshape(targets.shape[0], -1)
        return squared.sum(-1), jnp.full(squared.shape[:1], squared.shape[1], jnp.float32)

    def check(targets, output_shape):
        targets = np.asarray(targets)
        if targets.dtype.kind != "f":
            raise ValueError(f"the {name} code needs real-valued targets; got {targets.dtype}")
        if not np.isfinite(targets).all():
            raise ValueError(f"the {name} code needs finite targets")
        if output_shape is not None and tuple(output_shape) != (*targets.shape[1:], 2):
            raise ValueError(
                f"the {name} code needs outputs of shape {(*targets.shape[1:], 2)} per example "
                f"(a mean and a log scale per target value); the model outputs "
                f"{tuple(output_shape)}"
            )

    return DataCode(name, bits, errors, check, (("bin_width", float(bin_width)),), False)


def discretized_gaussian(bin_width: float) -> DataCode:
    """Real targets recorded to precision ``bin_width``, each coded by the mass of its bin under
    ``N(mean, exp(log_scale)^2)`` (`mdl.codes.data.discretized_gaussian_bits`)."""
    return _discretized("discretized_gaussian", discretized_gaussian_bits, bin_width)


def discretized_logistic(bin_width: float) -> DataCode:
    """As `discretized_gaussian` with a logistic density (Salimans et al., 2017)."""
    return _discretized("discretized_logistic", discretized_logistic_bits, bin_width)


DATA_CODES: dict[str, Callable[..., DataCode]] = {
    "categorical": categorical,
    "bernoulli": bernoulli,
    "next_token": next_token,
    "discretized_gaussian": discretized_gaussian,
    "discretized_logistic": discretized_logistic,
}


def data_code(spec: str | dict | DataCode) -> DataCode:
    """A data code from its name (``"categorical"``), its description
    (``{"name": "discretized_gaussian", "bin_width": 0.01}``) or itself."""
    if isinstance(spec, DataCode):
        return spec
    options = {}
    if isinstance(spec, dict):
        options = {k: v for k, v in spec.items() if k != "name"}
        spec = spec.get("name")
    if spec not in DATA_CODES:
        raise ValueError(f"unknown data code {spec!r}; known: {', '.join(sorted(DATA_CODES))}")
    try:
        return DATA_CODES[spec](**options)
    except TypeError as error:
        raise ValueError(f"data code {spec!r} does not take options {sorted(options)}") from error


def default_data_code(targets: np.ndarray) -> DataCode:
    """The natural code for a data set's targets: categorical for one integer label per example,
    next-token for integer sequences. Other targets need an explicit choice."""
    targets = np.asarray(targets)
    if targets.dtype.kind in "iu":
        return categorical() if targets.ndim == 1 else next_token()
    raise ValueError(
        f"no default data code for targets of dtype {targets.dtype} and shape "
        f"{targets.shape[1:]} per example; pass data_code= (e.g. discretized_gaussian(bin_width)"
        " for real values, bernoulli() for binary labels)"
    )
