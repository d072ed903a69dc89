"""Code lengths of data given a model's predictions, L(D | params), in bits per example.

Each function returns ``-log2 p(target)`` elementwise, so ``.sum()`` is the length of an
arithmetic code for the whole data set (to within a few bits, which ``mdl.codec`` makes real).
Arguments are checked eagerly for shapes and ranges; all functions are jit- and vmap-compatible.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from mdl.codes.continuous import GAUSSIAN, LOGISTIC, Standardized, log_interval_mass
from mdl.validation import check_finite, check_integer_array, check_positive, concrete

_LN2 = math.log(2)


def categorical_bits(logits, labels) -> jax.Array:
    """``-log2 softmax(logits)[label]``: bits per example for integer class labels.

    Args:
      logits: unnormalized log-probabilities, shape ``[..., K]``.
      labels: integer classes in ``[0, K)``, shape ``[...]`` (the leading axes of ``logits``).
    """
    logits = jnp.asarray(logits)
    if logits.ndim < 1:
        raise ValueError(f"logits must have a class axis, shape [..., K]; got shape {logits.shape}")
    labels_shape = jnp.shape(labels)
    if labels_shape != logits.shape[:-1]:
        raise ValueError(
            f"labels must have shape {logits.shape[:-1]} (logits.shape[:-1]); got {labels_shape}"
        )
    values = check_integer_array(labels, "labels", minimum=0)
    num_classes = logits.shape[-1]
    if values is not None and values.size and values.max() >= num_classes:
        raise ValueError(
            f"labels must be < {num_classes} (the number of classes); got {values.max().item()}"
        )
    check_finite(logits, "logits")
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, jnp.asarray(labels, jnp.int32)[..., None], axis=-1)
    return -picked[..., 0] / _LN2


def bernoulli_bits(logits, targets) -> jax.Array:
    """``-log2 p(target)`` for binary targets with ``p(1) = sigmoid(logits)``, elementwise.

    Uses ``softplus(x) - t x`` (in nats), exact for large ``|x|`` where ``log sigmoid`` underflows.
    Targets may be fractional in [0, 1] (then it is the binary cross-entropy).
    """
    logits = jnp.asarray(logits)
    if jnp.shape(targets) != logits.shape:
        raise ValueError(
            f"targets must have the shape of logits {logits.shape}; got {jnp.shape(targets)}"
        )
    values = concrete(targets)
    if values is not None and values.size and (values.min() < 0 or values.max() > 1):
        raise ValueError("targets must lie in [0, 1]")
    check_finite(logits, "logits")
    targets = jnp.asarray(targets, logits.dtype)
    return (jax.nn.softplus(logits) - targets * logits) / _LN2


def _discretized_bits(dist: Standardized, mean, log_scale, y, bin_width) -> jax.Array:
    check_positive(bin_width, "bin_width")
    check_finite(mean, "mean")
    check_finite(log_scale, "log_scale")
    check_finite(y, "y")
    try:
        shape = jnp.broadcast_shapes(jnp.shape(mean), jnp.shape(log_scale), jnp.shape(y))
    except ValueError as error:
        raise ValueError(
            f"mean {jnp.shape(mean)}, log_scale {jnp.shape(log_scale)} and y {jnp.shape(y)} "
            "must broadcast together"
        ) from error
    inv_scale = jnp.exp(-jnp.asarray(log_scale))
    center = (jnp.asarray(y) - jnp.asarray(mean)) * inv_scale
    half = 0.5 * jnp.asarray(bin_width) * inv_scale
    nats = -log_interval_mass(dist, center, half)
    return jnp.broadcast_to(nats / _LN2, shape)


def discretized_gaussian_bits(mean, log_scale, y, bin_width) -> jax.Array:
    """Bits to code ``y`` recorded to precision ``bin_width`` under ``N(mean, exp(log_scale)^2)``.

    ``-log2 [Phi((y + w/2 - mean) / s) - Phi((y - w/2 - mean) / s)]``: the mass of the bin of
    width ``w`` centered on ``y``. Continuous targets only have a finite code length once their
    precision is stated; for small ``w`` this is ``-log2 density(y) - log2 w``.
    """
    return _discretized_bits(GAUSSIAN, mean, log_scale, y, bin_width)


def discretized_logistic_bits(mean, log_scale, y, bin_width) -> jax.Array:
    """As `discretized_gaussian_bits` with a logistic density (Salimans et al., PixelCNN++,
    2017, use it for 8-bit pixels)."""
    return _discretized_bits(LOGISTIC, mean, log_scale, y, bin_width)
