"""A mean-field Gaussian posterior as a compressor: ``apply`` samples, ``bits`` is the KL.

A bits-back coder sends labels in ``E_q[-log2 p(D | theta)] + KL(q || p) / ln 2`` bits on
average for a posterior ``q`` over parameters and a prior ``p`` (Hinton and van Camp 1993;
Honkela and Valpola 2004; Blier and Ollivier 2018; the argument and full references are in
`mdl.estimators.variational`). This compressor is the second term, the model's part.

Here ``q`` is a mean-field Gaussian ``N(mu, sigma^2)`` over each selected tensor (``mu`` is the
parameter itself, ``log sigma`` the compressor's learned state, one per scalar) and ``p`` a
zero-mean Gaussian per tensor whose variance is learned: for given ``q`` the KL-optimal variance
is ``s^2 = mean(mu^2 + sigma^2)`` over the tensor, where

    KL(q || p) = 1/2 sum_j [sigma_j^2 / s^2 + mu_j^2 / s^2 - 1 - ln(sigma_j^2 / s^2)]
               = 1/2 sum_j [ln s^2 - ln sigma_j^2]      (nats; sum over the tensor's N scalars)

because ``sum_j (sigma_j^2 + mu_j^2) / s^2 = N``. Each ``s`` is part of the code: 32 bits per
tensor. So, the same shape as sparse variational dropout (`mdl.compress.prune`):

* ``apply(params, c, key)``: ``theta = mu + sigma eps``, ``eps ~ N(0, I)`` (the
  reparameterization trick, Kingma and Welling 2014), so ``mu`` and ``log sigma`` both learn;
* ``hard(params, c)``: the posterior mean ``mu``;
* ``bits(params, c)``: ``KL(q || p) / ln 2 + 32`` per selected tensor, 32 per scalar of the
  others. This is the model part of a bits-back code, an *estimate* of what a bits-back coder
  achieves on average; no file holds it, so ``finalize`` refuses (quantize or prune the mean
  to write a file).

Training ``data_bits(apply(...)) + beta bits(...)`` at ``beta = 1`` minimizes the bits-back
length (the negative ELBO in bits); `mdl.estimators.variational` reports it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mdl.compress.base import FLOAT32_BITS, Compressor, Selection, leafwise

LN2 = math.log(2.0)
PRIOR_SCALE_BITS = FLOAT32_BITS  # each tensor's prior scale s, stated as one float32


class GaussianPosteriorState(NamedTuple):
    r"""`gaussian_posterior`'s state per tensor: the posterior's $\log \sigma$, one per weight
    (the mean $\mu$ is the weight itself)."""

    log_sigma: jax.Array  # the parameter's shape: the posterior's log standard deviation


def optimal_prior_kl_bits(mu, log_sigma) -> jax.Array:
    r"""$\mathrm{KL}(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, s^2))$ summed over one
    tensor, in bits, at the KL-optimal prior variance $s^2 = \frac1N \sum_j (\mu_j^2 +
    \sigma_j^2)$ (module doc):

    $$\frac{1}{2 \ln 2} \sum_{j=1}^{N} \big(\ln s^2 - \ln \sigma_j^2\big).$$

    The prior scale's own 32 bits are not included.

    Args:
      mu: the posterior means (the tensor's weights), any shape.
      log_sigma: the posterior's $\log \sigma$, the same shape.

    Returns:
      Bits, a scalar.

    References:
      G. E. Hinton, D. van Camp, "Keeping neural networks simple by minimizing the
      description length of the weights", COLT 1993; A. Honkela, H. Valpola, "Variational
      learning and bits-back coding: an information-theoretic view to Bayesian learning",
      IEEE Trans. Neural Networks, 2004.
    """
    prior_var = jnp.mean(mu**2 + jnp.exp(2 * log_sigma))
    return 0.5 * jnp.sum(jnp.log(prior_var) - 2 * log_sigma) / LN2


def gaussian_posterior(init_log_sigma: float = -6.0, select: Selection = None) -> Compressor:
    r"""A mean-field Gaussian posterior ``N(w, exp(log_sigma)^2)`` on the selected tensors
    (module doc): ``apply`` samples it, ``hard`` is its mean, ``bits`` its KL to the
    KL-optimal zero-mean Gaussian prior plus 32 bits per prior scale.

    ``apply`` is $\theta = \mu + \sigma \epsilon$, $\epsilon \sim \mathcal{N}(0, I)$;
    ``bits`` is, per selected tensor, `optimal_prior_kl_bits` $+ 32$, and 32 bits per scalar
    of the other leaves: the model part of a bits-back code, in bits, an estimate of its
    average length, not a file.

    ``log_sigma`` starts at ``init_log_sigma`` for every scalar and is learned (``make_optimizer``
    gives it the compressor optimizer). ``select`` as for every compressor (default: weight
    matrices and kernels; `mdl.estimators.variational` selects every parameter).
    ``finalize`` raises ValueError: a posterior is an estimate, not a file.

    Args:
      init_log_sigma: the initial $\log \sigma$ of every scalar (finite).
      select: which leaves (regex, predicate, or None for ``ndim >= 2``).

    Returns:
      A `Compressor` whose state per tensor is a `GaussianPosteriorState`.

    References:
      G. E. Hinton, D. van Camp, "Keeping neural networks simple by minimizing the
      description length of the weights", COLT 1993; A. Honkela, H. Valpola, "Variational
      learning and bits-back coding: an information-theoretic view to Bayesian learning",
      IEEE Trans. Neural Networks, 2004; D. P. Kingma, M. Welling, "Auto-encoding
      variational Bayes", ICLR 2014 (the reparameterization).
    """
    if not math.isfinite(init_log_sigma):
        raise ValueError(f"init_log_sigma must be finite; got {init_log_sigma}")

    def init(path, w):
        return GaussianPosteriorState(jnp.full(np.shape(w), init_log_sigma, jnp.float32))

    def hard(w, state):
        return w

    def relaxed(w, state, key):
        return w + jnp.exp(state.log_sigma) * jax.random.normal(key, jnp.shape(w), w.dtype)

    def bits(w, state):
        return optimal_prior_kl_bits(w, state.log_sigma) + PRIOR_SCALE_BITS

    def finalize(w, state):
        # Reached only when a caller asks for a file (encode_compressed, save_compressed): say
        # which compressor cannot write one instead of failing somewhere in the codec.
        raise ValueError(
            "gaussian_posterior has no file: its bits() is a bits-back estimate (KL(q || p)), "
            "which mdl does not write; quantize or prune the posterior mean to write a file"
        )

    return leafwise(select, init=init, relaxed=relaxed, hard=hard, bits=bits, finalize=finalize)
