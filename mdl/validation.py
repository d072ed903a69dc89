"""Eager argument checks shared by the library.

Every public function checks what it can *before* doing work, and raises an error whose message
names the argument, what it got and what it expected. Values that are being traced by
``jax.jit``/``jax.vmap`` cannot be inspected, so the value checks here skip tracers: static
properties (shapes, dtypes) are still checked, and the user gets the same clear error the moment
they call the function eagerly.
"""

from __future__ import annotations

import jax
import numpy as np


def is_traced(x) -> bool:
    """True when ``x`` is an abstract value inside a JAX transformation (values unknown)."""
    return isinstance(x, jax.core.Tracer)


def concrete(x) -> np.ndarray | None:
    """``x`` as a numpy array, or None when it is traced (its values cannot be checked)."""
    if is_traced(x):
        return None
    return np.asarray(x)


def check_finite(x, name: str) -> None:
    values = concrete(x)
    if values is None or values.dtype.kind not in "fc":
        return
    if not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise ValueError(f"{name} must be finite; got {bad} NaN or infinite value(s)")


def check_positive(x, name: str) -> None:
    values = concrete(x)
    if values is None:
        return
    check_finite(values, name)
    if np.any(values <= 0):
        raise ValueError(f"{name} must be > 0; got minimum {values.min().item()!r}")


def check_integer_array(x, name: str, *, minimum: int | None = None) -> np.ndarray | None:
    """Check that ``x`` holds integers (integer dtype, or floats with integral values)."""
    values = concrete(x)
    if values is None:
        if not jax.numpy.issubdtype(x.dtype, jax.numpy.integer):
            raise TypeError(f"{name} must have an integer dtype; got {x.dtype}")
        return None
    if values.dtype.kind == "b" or values.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integers; got dtype {values.dtype}")
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise TypeError(f"{name} must hold integers; got non-integral floats")
    if minimum is not None and values.size and values.min() < minimum:
        raise ValueError(
            f"{name} must be integers >= {minimum}; got minimum {values.min().item()!r}"
        )
    return values


def check_probabilities(probs, name: str, *, atol: float = 1e-4) -> np.ndarray:
    """Check a probability table whose last axis sums to one; returns it as float64 numpy."""
    values = np.asarray(probs)
    if values.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a real-valued array; got dtype {values.dtype}")
    values = values.astype(np.float64, copy=False)
    if values.ndim == 0 or values.shape[-1] < 1:
        raise ValueError(
            f"{name} must have a non-empty last (symbol) axis; got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite; got NaN or infinite probabilities")
    if np.any(values < 0):
        raise ValueError(f"{name} must be non-negative; got minimum {values.min().item()!r}")
    sums = values.sum(axis=-1)
    worst = np.max(np.abs(sums - 1.0)) if sums.size else 0.0
    if worst > atol:
        raise ValueError(
            f"{name} must sum to 1 along its last axis (tolerance {atol}); "
            f"got a sum that is off by {worst:.3g}"
        )
    return values
