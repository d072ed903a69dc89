"""Discretized priors over integer bins: the entropy models of quantized weights.

A weight quantized to ``w = step * k`` is described by its integer bin ``k``. A prior here is a
continuous density (in units of bins) integrated over ``[k - 1/2, k + 1/2]``, giving a proper
probability mass function over all integers, differentiable in its parameters. The same objects
serve two masters without change:

* training: ``prior.bits(k)`` (or ``-prior.log2_pmf(k)``) is the rate term of the objective;
* coding: ``mdl.codec.encode_symbols(k, prior)`` codes the bins with rANS against
  ``probability_table(prior, lo, hi)`` (the same pmf, evaluated in float64), so the file's size
  is the training-time rate plus a few bytes.

With uniform noise ``u ~ U(-1/2, 1/2)``, ``E_u[-log2 p_density(k + u)]`` is *not* the rate of
the rounded weight; the rate of ``k`` under the discretized prior is, which is why priors here
are discretized (Balle, Laparra, Simoncelli, "End-to-end optimized image compression", 2017).

Priors are NamedTuples, hence pytrees: jit, vmap and grad see their parameters as leaves.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mdl.codes.continuous import GAUSSIAN, LAPLACE, LOGISTIC, Standardized, log_interval_mass
from mdl.validation import check_finite, check_positive

_LN2 = math.log(2)


def _bin_log_mass(dist: Standardized, loc, scale, k) -> jax.Array:
    check_positive(scale, "scale")
    check_finite(loc, "loc")
    k = jnp.asarray(k, dtype=jnp.result_type(float, jnp.asarray(scale).dtype))
    inv_scale = 1.0 / jnp.asarray(scale)
    return log_interval_mass(dist, (k - loc) * inv_scale, 0.5 * inv_scale)


def _log2_pmf(self, k) -> jax.Array:
    """``log2 P(k)`` for integer bins ``k`` (elementwise, broadcasting with the parameters)."""
    return self.log_pmf(k) / _LN2


def _bits(self, k) -> jax.Array:
    """``-log2 P(k)``: the code length of each bin in bits."""
    return -self.log_pmf(k) / _LN2


class DiscretizedLaplace(NamedTuple):
    r"""Laplace density with location ``loc`` and scale ``scale`` (in bins), discretized.

    $P(k) = F\big((k + \tfrac12 - \mu) / s\big) - F\big((k - \tfrac12 - \mu) / s\big)$ for
    integer bins $k$, $\mu$ = ``loc``, $s$ = ``scale`` $> 0$, $F$ the standard Laplace CDF; a bin
    costs $-\log_2 P(k)$ bits (``bits``).

    Attributes:
      loc: $\mu$, in bins (finite).
      scale: $s$, in bins ($> 0$).

    References:
      J. Ballé, V. Laparra, E. P. Simoncelli, "End-to-end optimized image compression",
      ICLR 2017 (discretized priors as rates).
    """

    loc: Any
    scale: Any

    def log_pmf(self, k):
        r"""$\ln P(k)$ in nats for integer bins ``k`` (elementwise); `bits` gives
        $-\log_2 P(k)$, the code length in bits."""
        return _bin_log_mass(LAPLACE, self.loc, self.scale, k)


class DiscretizedGaussian(NamedTuple):
    r"""Gaussian density, mean ``loc`` and standard deviation ``scale`` (in bins), discretized.

    $P(k) = F\big((k + \tfrac12 - \mu) / s\big) - F\big((k - \tfrac12 - \mu) / s\big)$ for
    integer bins $k$, $\mu$ = ``loc``, $s$ = ``scale`` $> 0$, $F = \Phi$ the standard normal
    CDF; a bin costs $-\log_2 P(k)$ bits (``bits``).

    Attributes:
      loc: $\mu$, in bins (finite).
      scale: $s$, in bins ($> 0$).

    References:
      J. Ballé, V. Laparra, E. P. Simoncelli, "End-to-end optimized image compression",
      ICLR 2017 (discretized priors as rates).
    """

    loc: Any
    scale: Any

    def log_pmf(self, k):
        r"""$\ln P(k)$ in nats for integer bins ``k`` (elementwise); `bits` gives
        $-\log_2 P(k)$, the code length in bits."""
        return _bin_log_mass(GAUSSIAN, self.loc, self.scale, k)


class DiscretizedLogistic(NamedTuple):
    r"""Logistic density with location ``loc`` and scale ``scale`` (in bins), discretized.

    $P(k) = F\big((k + \tfrac12 - \mu) / s\big) - F\big((k - \tfrac12 - \mu) / s\big)$ for
    integer bins $k$, $\mu$ = ``loc``, $s$ = ``scale`` $> 0$, $F = \sigma$ the logistic
    sigmoid; a bin costs $-\log_2 P(k)$ bits (``bits``).

    Attributes:
      loc: $\mu$, in bins (finite).
      scale: $s$, in bins ($> 0$).

    References:
      T. Salimans, A. Karpathy, X. Chen, D. P. Kingma, "PixelCNN++: improving the PixelCNN
      with discretized logistic mixture likelihood and other modifications", ICLR 2017.
    """

    loc: Any
    scale: Any

    def log_pmf(self, k):
        r"""$\ln P(k)$ in nats for integer bins ``k`` (elementwise); `bits` gives
        $-\log_2 P(k)$, the code length in bits."""
        return _bin_log_mass(LOGISTIC, self.loc, self.scale, k)


class DiscretizedMixture(NamedTuple):
    r"""Mixture ``sum_m softmax(logits)_m P_m(k)`` of discretized components.

    ``components`` is one prior whose parameters carry a trailing mixture axis of size ``M``
    (e.g. ``DiscretizedGaussian(loc=jnp.array([-4., 0., 4.]), scale=jnp.array([1., .2, 1.]))``),
    ``logits`` has shape ``[M]``. This is the prior of soft weight-sharing (Ullrich, Meeds,
    Welling, "Soft weight-sharing for neural network compression", 2017).

    $P(k) = \sum_{m=1}^{M} \pi_m P_m(k)$, $\pi = \operatorname{softmax}(\text{logits})$; a bin
    costs $-\log_2 P(k)$ bits (``bits``).

    Attributes:
      logits: the mixture weights' logits ``[M]`` (finite).
      components: one discretized prior with a trailing mixture axis of size ``M``.

    References:
      K. Ullrich, E. Meeds, M. Welling, "Soft weight-sharing for neural network compression",
      ICLR 2017.
    """

    logits: Any
    components: Any

    def log_pmf(self, k):
        r"""$\ln P(k)$ in nats for integer bins ``k`` (elementwise); `bits` gives
        $-\log_2 P(k)$, the code length in bits."""
        check_finite(self.logits, "logits")
        log_weights = jax.nn.log_softmax(jnp.asarray(self.logits), axis=-1)
        k = jnp.asarray(k)
        return jax.nn.logsumexp(log_weights + self.components.log_pmf(k[..., None]), axis=-1)


class SpikeAndSlab(NamedTuple):
    r"""``P(0) = pi + (1 - pi) Q(0)``, ``P(k) = (1 - pi) Q(k)``, ``pi = sigmoid(spike_logit)``.

    The spike prices pruned weights: a zero costs ``-log2 P(0)`` bits, small when most weights are
    zero, but never nothing.

    $P(k) = \pi [k = 0] + (1 - \pi) Q(k)$ with $\pi = \sigma(\text{spike\_logit})$ and $Q$
    the slab; a bin costs $-\log_2 P(k)$ bits (``bits``).

    Attributes:
      spike_logit: the logit of $\pi$, the spike's mass at zero (finite).
      slab: $Q$, a discretized prior.

    References:
      T. J. Mitchell, J. J. Beauchamp, "Bayesian variable selection in linear regression",
      Journal of the American Statistical Association, 1988 (spike-and-slab priors).
    """

    spike_logit: Any
    slab: Any

    def log_pmf(self, k):
        r"""$\ln P(k)$ in nats for integer bins ``k`` (elementwise); `bits` gives
        $-\log_2 P(k)$, the code length in bits."""
        check_finite(self.spike_logit, "spike_logit")
        k = jnp.asarray(k)
        log_spike = jax.nn.log_sigmoid(self.spike_logit)
        log_rest = jax.nn.log_sigmoid(-jnp.asarray(self.spike_logit))
        slab = log_rest + self.slab.log_pmf(k)
        return jnp.where(k == 0, jnp.logaddexp(log_spike, slab), slab)


class DiscretizedUniform(NamedTuple):
    r"""Uniform over the ``2 L + 1`` bins ``-L..L`` (``L = half_width``, a whole number): each
    costs ``log2(2 L + 1)`` bits. The code of a fixed-bit-width grid (learned bit widths).

    $P(k) = 1 / (2L + 1)$ for $|k| \le L$, 0 outside (infinite bits).

    Attributes:
      half_width: $L$, a whole number $\ge 0$.

    References:
      A. Défossez, Y. Adi, G. Synnaeve, "Differentiable model compression via pseudo
      quantization noise", TMLR 2022 (the grid of `mdl.compress.learned_bit_width`).
    """

    half_width: Any

    def log_pmf(self, k):
        r"""$\ln P(k)$ in nats for integer bins ``k`` (elementwise); `bits` gives
        $-\log_2 P(k)$, the code length in bits."""
        check_finite(self.half_width, "half_width")
        half = jnp.asarray(self.half_width)
        k = jnp.asarray(k)
        inside = jnp.abs(k) <= half
        return jnp.where(inside, -jnp.log(2 * half + 1), -jnp.inf)


PRIOR_FAMILIES: dict[str, type] = {
    "laplace": DiscretizedLaplace,
    "gaussian": DiscretizedGaussian,
    "logistic": DiscretizedLogistic,
    "mixture": DiscretizedMixture,
    "spike_and_slab": SpikeAndSlab,
    "uniform": DiscretizedUniform,
}
_FAMILY_NAMES = {cls: name for name, cls in PRIOR_FAMILIES.items()}
# NamedTuples cannot inherit from a mixin, so the shared methods are attached here.
for _cls in PRIOR_FAMILIES.values():
    _cls.log2_pmf = _log2_pmf
    _cls.bits = _bits


def is_prior(obj) -> bool:
    return type(obj) in _FAMILY_NAMES


def check_prior(prior) -> None:
    """Eagerly check a prior's parameters: all finite, every ``scale`` > 0 (recursively)."""
    if not is_prior(prior):
        raise TypeError(
            f"prior must be one of {sorted(PRIOR_FAMILIES)}; got {type(prior).__name__}"
        )
    for field, value in zip(prior._fields, prior, strict=True):
        if is_prior(value):
            check_prior(value)
        elif field == "scale":
            check_positive(value, "scale")
        elif field == "half_width":
            values = np.asarray(value, dtype=np.float64)
            if not np.all((values >= 0) & (values == np.round(values))):
                raise ValueError(f"half_width must be a whole number >= 0; got {value}")
        else:
            check_finite(value, field)


def probability_table(prior, lo: int, hi: int) -> np.ndarray:
    r"""``P(k)`` for ``k = lo..hi`` in float64 numpy, evaluated with JAX in 64-bit mode.

    This is the table the codec codes with. Evaluating it in float64 whatever the training
    precision makes it a deterministic function of the (float32) parameters.

    Probabilities, not bits: ``-log2`` of an entry is that bin's code length. Masses below
    $e^{-700}$ are raised to $e^{-700}$ (exact zeros of a bounded prior stay zero); the
    table is not renormalized.

    Args:
      prior: a discretized prior of this module (its parameters are checked eagerly).
      lo: the first bin.
      hi: the last bin, $\ge$ ``lo``.

    Returns:
      float64 ``[hi - lo + 1]``.

    References:
      J. Duda, "Asymmetric numeral systems", 2013 (the rANS coder the table feeds).
    """
    if hi < lo:
        raise ValueError(f"probability_table needs lo <= hi; got lo={lo}, hi={hi}")
    check_prior(prior)  # the table is computed under jit, where values cannot be checked
    size = hi - lo + 1
    # Evaluate on a power-of-two grid of at least _MIN_GRID bins, so that the ranges of a
    # model's tensors (tens to hundreds of bins) share one compiled program: each compilation
    # costs about 0.15 s, evaluating 4,096 bins microseconds.
    padded = max(_MIN_GRID, 1 << max(size - 1, 1).bit_length())
    with jax.enable_x64(True):
        prior64 = jax.tree.map(lambda p: jnp.asarray(np.asarray(p), jnp.float64), prior)
        log_pmf = _jitted_log_pmf(prior64, jnp.float64(lo), padded)
        # Masses below e^-700 (the bins of a light-tailed prior far from its center) would
        # underflow to exact zeros, and a table of zeros codes nothing. Raised to e^-700 they
        # stay codable; the coder's own floor (2^-24) is far above that anyway.
        log_pmf = np.asarray(log_pmf, dtype=np.float64)[:size]
        return np.exp(np.where(np.isneginf(log_pmf), log_pmf, np.maximum(log_pmf, -700.0)))


_MIN_GRID = 4096


@partial(jax.jit, static_argnums=2)
def _jitted_log_pmf(prior, lo, size):
    return prior.log_pmf(lo + jnp.arange(size, dtype=lo.dtype))
