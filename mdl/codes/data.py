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
    r"""Code length of integer class labels under a categorical model, in bits per example.

    $L(y) = -\log_2 \operatorname{softmax}(z)_y$ for logits $z$: the length an arithmetic
    coder reaches for label $y$ (to within a few bits per file, see `mdl.codec.encode_labels`).

    Args:
      logits: unnormalized log-probabilities, shape ``[..., K]``.
      labels: integer classes in ``[0, K)``, shape ``[...]`` (the leading axes of ``logits``).

    Returns:
      Bits per example, shape ``[...]``; ``.sum()`` is the data set's code length.

    References:
      C. E. Shannon, "A mathematical theory of communication", Bell System Technical Journal,
      1948 (the ideal code length $-\log_2 p$).
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
    r"""Code length of binary targets under independent Bernoulli models, in bits, elementwise.

    $L(t) = -t \log_2 \sigma(x) - (1 - t) \log_2 (1 - \sigma(x))$ for logit $x$, computed as
    $(\operatorname{softplus}(x) - t x) / \ln 2$, exact for large $|x|$ where
    $\log \sigma$ underflows. Targets may be fractional in $[0, 1]$ (then it is the binary
    cross-entropy).

    Args:
      logits: log-odds of a 1, any shape.
      targets: 0/1 (or fractional) targets, the shape of ``logits``.

    Returns:
      Bits per target, the shape of ``logits``.

    References:
      C. E. Shannon, "A mathematical theory of communication", 1948.
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
    r"""Code length of a real target recorded to precision ``bin_width`` under a Gaussian, in bits.

    With $s = e^{\text{log\_scale}}$ and bin width $w$,
    $L(y) = -\log_2 \left[\Phi\!\left(\frac{y + w/2 - \mu}{s}\right)
    - \Phi\!\left(\frac{y - w/2 - \mu}{s}\right)\right]$: the mass of the bin of width $w$
    centered on $y$. Continuous targets only have a finite code length once their precision is
    stated; for small $w$ this is $-\log_2 f(y) - \log_2 w$ ($f$ the density).

    Args:
      mean: the Gaussian's mean $\mu$.
      log_scale: the natural log of its standard deviation.
      y: the targets (broadcast with ``mean`` and ``log_scale``).
      bin_width: the precision $w > 0$ the targets are recorded to.

    Returns:
      Bits per target, the broadcast shape.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (a real number's
      code length at a stated precision).
    """
    return _discretized_bits(GAUSSIAN, mean, log_scale, y, bin_width)


def discretized_logistic_bits(mean, log_scale, y, bin_width) -> jax.Array:
    r"""Code length of a real target recorded to precision ``bin_width`` under a logistic, in bits.

    As `discretized_gaussian_bits` with the logistic distribution function
    $\sigma((y - \mu) / s)$ in place of $\Phi$:
    $L(y) = -\log_2 \left[\sigma\!\left(\frac{y + w/2 - \mu}{s}\right)
    - \sigma\!\left(\frac{y - w/2 - \mu}{s}\right)\right]$.

    Args:
      mean: the logistic's location $\mu$.
      log_scale: the natural log of its scale $s$.
      y: the targets (broadcast with ``mean`` and ``log_scale``).
      bin_width: the precision $w > 0$ the targets are recorded to.

    Returns:
      Bits per target, the broadcast shape.

    References:
      T. Salimans, A. Karpathy, X. Chen, D. P. Kingma, "PixelCNN++", ICLR 2017 (which uses it
      for 8-bit pixels).
    """
    return _discretized_bits(LOGISTIC, mean, log_scale, y, bin_width)
