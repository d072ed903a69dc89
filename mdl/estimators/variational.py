"""The variational (bits-back) code: KL(q || p) + E_q[L(D | theta)], in bits.

With a posterior ``q`` over parameters, bits-back coding transmits the labels in
``E_q[-log2 p(D | theta)] + KL(q || p) / ln 2`` bits on average: the sender draws ``theta``
from ``q`` using bits of the message itself, and the receiver, once it knows ``q``, gets those
bits back (Hinton and van Camp, "Keeping neural networks simple by minimizing the description
length of the weights", 1993; Honkela and Valpola, "Variational learning and bits-back coding",
2004; Blier and Ollivier, "The description length of deep learning models", 2018).

Here ``q`` is a mean-field Gaussian ``N(mu, sigma^2)`` over every parameter and ``p`` a
zero-mean Gaussian per tensor whose variance is learned: for given ``q`` the KL-optimal variance
is ``s^2 = mean(mu^2 + sigma^2)`` over the tensor, where

    KL(q || p) = 1/2 sum_j [ln s^2 - ln sigma_j^2]      (nats; sum over the tensor's N scalars)

because ``sum_j (sigma_j^2 + mu_j^2) / s^2 = N``. Each ``s`` is part of the code: 32 bits per
tensor. That posterior and its KL are the compressor `mdl.compress.gaussian_posterior`
(``apply`` samples ``theta``, ``bits`` is the KL plus the scales), so training is
`mdl.engine`'s, like every other trainer's. It uses the reparameterization trick (Kingma
and Welling 2014) and, for `mdl.models.MLP`, the local reparameterization trick
(Kingma, Salimans, Welling, "Variational dropout and the local reparameterization trick",
2015) through the engine's ``forward`` hook: pre-activations are sampled from their Gaussian,
one independent draw per example. The reported data term is a Monte Carlo estimate with
whole-network samples (one ``theta`` for the whole data set, as the code uses it). This is an
*estimate* of a code length achievable with a bits-back coder; mdl does not write it to a file
(``real=False``).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from mdl.codes.data_codes import categorical
from mdl.compress.base import leaves_with_paths, map_leaves
from mdl.compress.gaussian_posterior import (
    PRIOR_SCALE_BITS,
    gaussian_posterior,
    optimal_prior_kl_bits,
)
from mdl.engine import init_state, make_epoch, make_step, optimizer_for, warmup_steps_for
from mdl.estimators.report import DescriptionLength
from mdl.estimators.validation import check_labelled
from mdl.inference import evaluate
from mdl.models import MLP
from mdl.params import split_params


class GaussianPosterior(NamedTuple):
    r"""Mean-field Gaussian over a parameter pytree: ``theta ~ N(mean, exp(log_sigma)^2)``.

    The posterior $q$ of the bits-back code (module doc); `kl_bits` is its KL to the
    KL-optimal prior, in bits.

    Attributes:
      mean: the pytree of means $\mu$.
      log_sigma: the pytree of $\log \sigma$, the same structure.

    References:
      G. E. Hinton, D. van Camp, "Keeping neural networks simple by minimizing the
      description length of the weights", COLT 1993.
    """

    mean: Any
    log_sigma: Any


def kl_bits(posterior: GaussianPosterior) -> jax.Array:
    r"""``KL(q || p) / ln 2`` with each tensor's prior variance at its optimum (module doc):
    the sum of `mdl.compress.optimal_prior_kl_bits` over the tensors.

    $$\mathrm{KL}(q \,\|\, p) = \frac{1}{2 \ln 2} \sum_{\text{tensors}} \sum_{j}
    \big(\ln s^2 - \ln \sigma_j^2\big), \qquad s^2 = \tfrac1N \textstyle\sum_j
    (\mu_j^2 + \sigma_j^2)$$

    per tensor of $N$ scalars. The prior scales' 32 bits each are not included
    (``prior_scale_bits``).

    Args:
      posterior: the `GaussianPosterior`.

    Returns:
      Bits, a float32 scalar.

    References:
      G. E. Hinton, D. van Camp, "Keeping neural networks simple by minimizing the
      description length of the weights", COLT 1993; A. Honkela, H. Valpola, "Variational
      learning and bits-back coding: an information-theoretic view to Bayesian learning",
      IEEE Trans. Neural Networks, 2004.
    """
    total = jnp.float32(0.0)
    for mu, log_sigma in zip(
        jax.tree.leaves(posterior.mean), jax.tree.leaves(posterior.log_sigma), strict=True
    ):
        total = total + optimal_prior_kl_bits(mu, log_sigma)
    return total


def prior_scale_bits(posterior: GaussianPosterior) -> float:
    """The learned prior scales, one float32 per tensor."""
    return float(PRIOR_SCALE_BITS * len(jax.tree.leaves(posterior.mean)))


def _every_parameter(path: str, leaf) -> bool:
    """The posterior covers biases too: every parameter is sent through the bits-back code."""
    return True


@functools.cache
def _posterior_sampler():
    """Whole-network samples ``theta ~ q`` as one jitted program shared by every call (compiled
    once per architecture): ``apply`` does not depend on ``init_log_sigma``, and a sampler made
    per call would compile again each time (seconds on CPU)."""
    return jax.jit(gaussian_posterior(select=_every_parameter).apply)


def _mlp_local_forward(model: MLP):
    """The engine's ``forward`` hook for ``model`` with the local reparameterization trick:
    each layer's pre-activations are drawn from their Gaussian, ``N(h mu_W + mu_b, h^2
    sigma_W^2 + sigma_b^2)``, one independent draw per example (a lower-variance gradient than
    one weight sample shared by the batch, for the same expected loss)."""
    sizes, activation = model.sizes, model.activation
    layers = len(sizes) - 1

    def forward(graphdef, params, cstate, xb, key):
        del graphdef  # the layers are computed here, from the posterior's moments
        mean = dict(leaves_with_paths(params))
        h = jnp.reshape(xb, (xb.shape[0], sizes[0]))
        keys = jax.random.split(key, layers)
        for i in range(layers):
            w, b = f"layers/{i}/kernel", f"layers/{i}/bias"
            out_mean = h @ mean[w] + mean[b]
            var_w, var_b = jnp.exp(2 * cstate[w].log_sigma), jnp.exp(2 * cstate[b].log_sigma)
            out_var = (h**2) @ var_w + var_b
            h = out_mean + jnp.sqrt(out_var + 1e-16) * jax.random.normal(keys[i], out_mean.shape)
            if i < layers - 1:
                h = activation(h)
        return h

    return forward


def variational(
    model: nnx.Module,
    x,
    y,
    *,
    epochs: int = 20,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    init_log_sigma: float = -6.0,
    warmup_fraction: float = 0.2,
    samples: int = 8,
    key: jax.Array | None = None,
    local_reparameterization: bool = True,
    test: tuple | None = None,
    progress: bool = False,
) -> tuple[DescriptionLength, GaussianPosterior]:
    r"""Train a mean-field Gaussian posterior on ``(x, y)`` and report its bits-back length.

    The posterior mean starts at ``model``'s parameters, every ``log sigma`` at
    ``init_log_sigma``. Training is `mdl.engine`'s with the
    `gaussian_posterior` compressor over every parameter and the
    categorical data code: the loss is ``beta_t x bits + n x batch mean of -log2 p(y | x,
    theta)``, ``beta_t`` ramping from 0 to 1 over ``warmup_fraction`` of the steps (KL
    annealing; the reported length always has the full KL), Adam at ``learning_rate`` on the
    means and the log sigmas. For an `mdl.models.MLP` without input pooling
    (``local_reparameterization=True``), the pre-activations are sampled per example (the
    engine's ``forward`` hook); other models sample whole networks. Returns the report (parts
    ``kl``, ``prior_scales``, ``data``; ``details``: test accuracy of the posterior mean, the
    data term's Monte Carlo standard error) and the posterior.

    In bits (an estimate, no file): $L = \mathrm{KL}(q \,\|\, p) / \ln 2
    + \mathbb{E}_q\big[\sum_i -\log_2 p(y_i \mid x_i, \theta)\big]$ plus 32 bits per prior
    scale (see the theory note on bits back).

    References:
      G. E. Hinton and D. van Camp, "Keeping neural networks simple by minimizing the
      description length of the weights", COLT 1993; L. Blier and Y. Ollivier, "The
      description length of deep learning models", NeurIPS 2018.
    """
    x, y = check_labelled(x, y)
    if epochs < 1 or samples < 1:
        raise ValueError(f"epochs and samples must be >= 1; got {epochs}, {samples}")
    if not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be in [1, {len(x)}]; got {batch_size}")
    if not 0 <= warmup_fraction <= 1:
        raise ValueError(f"warmup_fraction must be in [0, 1]; got {warmup_fraction}")
    key = jax.random.key(0) if key is None else key
    graphdef, params = split_params(model)
    compressor = gaussian_posterior(init_log_sigma, select=_every_parameter)
    cstate = compressor.init(params)
    n = len(x)
    # A pooled MLP's first layer sees pooled inputs, which the local forward does not compute.
    local = local_reparameterization and isinstance(model, MLP) and model.pool == 1
    optimizer = optimizer_for(compressor, params, cstate, optax.adam(learning_rate))
    step = make_step(
        graphdef,
        compressor,
        categorical(),
        optimizer,
        n,
        warmup_steps_for(warmup_fraction, epochs, n // batch_size),
        forward=_mlp_local_forward(model) if local else None,
    )
    epoch = jax.jit(make_epoch(step, batch_size, scan=True))

    xs, ys = jnp.asarray(x), jnp.asarray(y)
    state = init_state(params, cstate, optimizer)
    beta = jnp.float32(1.0)  # the full KL once the warmup is over: the bits-back length
    train_key, eval_key = jax.random.split(key)
    for i in tqdm(range(epochs), disable=not progress, desc="variational", unit="epoch"):
        state = epoch(state, jax.random.fold_in(train_key, i), xs, ys, beta)
    params, cstate = state.params, state.cstate

    # The reported data term samples whole networks: one theta for the whole data set, as the
    # bits-back code uses it.
    sample = _posterior_sampler()
    data_bits = [
        evaluate(graphdef, sample(params, cstate, k), x, y)[0]
        for k in jax.random.split(eval_key, samples)
    ]
    posterior = GaussianPosterior(params, map_leaves(params, lambda p, _: cstate[p].log_sigma))
    details = {
        "data_bits_stderr": float(np.std(data_bits, ddof=1) / math.sqrt(samples))
        if samples > 1
        else None,
        "samples": samples,
        "local_reparameterization": local,
        "train_accuracy_of_mean": 1.0 - evaluate(graphdef, posterior.mean, x, y)[1],
    }
    if test is not None:
        details["test_accuracy"] = (
            1.0 - evaluate(graphdef, posterior.mean, *check_labelled(*test))[1]
        )
    parts = {
        "kl": float(kl_bits(posterior)),
        "prior_scales": prior_scale_bits(posterior),
        "data": float(np.mean(data_bits)),
    }
    num_classes = int(nnx.merge(graphdef, params)(jnp.asarray(x[:1])).shape[-1])
    report = DescriptionLength("variational", parts, n, num_classes, real=False, details=details)
    return report, posterior
