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
tensor. Training uses the reparameterization trick (Kingma and Welling 2014) and, for
:class:`mdl.models.MLP`, the local reparameterization trick (Kingma, Salimans, Welling,
"Variational dropout and the local reparameterization trick", 2015): pre-activations are
sampled from their Gaussian, one independent draw per example. The reported data term is a
Monte Carlo estimate with whole-network samples (one ``theta`` for the whole data set, as the
code uses it). This is an *estimate* of a code length achievable with a bits-back coder; mdl
does not write it to a file (``real=False``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from mdl.codes.data import categorical_bits
from mdl.compress.base import FLOAT32_BITS, leaves_with_paths
from mdl.data.batches import batches
from mdl.estimators.report import DescriptionLength
from mdl.estimators.validation import check_labelled
from mdl.inference import evaluate
from mdl.models import MLP
from mdl.params import split_params

LN2 = math.log(2.0)


class GaussianPosterior(NamedTuple):
    """Mean-field Gaussian over a parameter pytree: ``theta ~ N(mean, exp(log_sigma)^2)``."""

    mean: Any
    log_sigma: Any


def kl_bits(posterior: GaussianPosterior) -> jax.Array:
    """``KL(q || p) / ln 2`` with each tensor's prior variance at its optimum (module doc)."""
    total = jnp.float32(0.0)
    for mu, log_sigma in zip(
        jax.tree.leaves(posterior.mean), jax.tree.leaves(posterior.log_sigma), strict=True
    ):
        prior_var = jnp.mean(mu**2 + jnp.exp(2 * log_sigma))
        total = total + 0.5 * jnp.sum(jnp.log(prior_var) - 2 * log_sigma)
    return total / LN2


def prior_scale_bits(posterior: GaussianPosterior) -> float:
    """The learned prior scales, one float32 per tensor."""
    return float(FLOAT32_BITS * len(jax.tree.leaves(posterior.mean)))


def sample(posterior: GaussianPosterior, key) -> Any:
    leaves, treedef = jax.tree.flatten(posterior.mean)
    keys = jax.random.split(key, len(leaves))
    noise = jax.tree.unflatten(
        treedef,
        [
            jax.random.normal(k, leaf.shape, leaf.dtype)
            for k, leaf in zip(keys, leaves, strict=True)
        ],
    )
    return jax.tree.map(
        lambda mu, ls, e: mu + jnp.exp(ls) * e, posterior.mean, posterior.log_sigma, noise
    )


def _mlp_local_logits(model: MLP, posterior: GaussianPosterior, x, key):
    """MLP forward with the local reparameterization trick (one draw per example)."""
    mean = dict(leaves_with_paths(posterior.mean))
    log_sigma = dict(leaves_with_paths(posterior.log_sigma))
    h = jnp.reshape(x, (x.shape[0], model.sizes[0]))
    layers = len(model.sizes) - 1
    keys = jax.random.split(key, layers)
    for i in range(layers):
        w, b = f"layers/{i}/kernel", f"layers/{i}/bias"
        out_mean = h @ mean[w] + mean[b]
        out_var = (h**2) @ jnp.exp(2 * log_sigma[w]) + jnp.exp(2 * log_sigma[b])
        h = out_mean + jnp.sqrt(out_var + 1e-16) * jax.random.normal(keys[i], out_mean.shape)
        if i < layers - 1:
            h = model.activation(h)
    return h


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
    """Train a mean-field Gaussian posterior on ``(x, y)`` and report its bits-back length.

    The posterior mean starts at ``model``'s parameters, every ``log sigma`` at
    ``init_log_sigma``. The loss is ``beta_t x KL bits + n x batch mean of -log2 p(y | x,
    theta)``, ``beta_t`` ramping from 0 to 1 over ``warmup_fraction`` of the steps (KL
    annealing; the reported length always has the full KL). Returns the report (parts ``kl``,
    ``prior_scales``, ``data``; ``details``: test accuracy of the posterior mean, the data
    term's Monte Carlo standard error) and the posterior.
    """
    x, y = check_labelled(x, y)
    if epochs < 1 or samples < 1:
        raise ValueError(f"epochs and samples must be >= 1; got {epochs}, {samples}")
    if not 1 <= batch_size <= len(x):
        raise ValueError(f"batch_size must be in [1, {len(x)}]; got {batch_size}")
    key = jax.random.key(0) if key is None else key
    graphdef, params = split_params(model)
    posterior = GaussianPosterior(
        params, jax.tree.map(lambda p: jnp.full_like(p, init_log_sigma), params)
    )
    n = len(x)
    local = local_reparameterization and isinstance(model, MLP)
    optimizer = optax.adam(learning_rate)
    steps_per_epoch = n // batch_size
    warmup = max(1.0, warmup_fraction * epochs * steps_per_epoch)

    def logits_fn(q, xb, k):
        if local:
            return _mlp_local_logits(model, q, xb, k)
        return nnx.merge(graphdef, sample(q, k))(xb)

    def loss(q, xb, yb, k, beta):
        data = categorical_bits(logits_fn(q, xb, k), yb).mean() * n
        return data + beta * kl_bits(q)

    @jax.jit
    def epoch(q, opt_state, step, epoch_key, xs, ys):
        shuffle_key, noise_key = jax.random.split(epoch_key)
        xb, yb = batches(shuffle_key, xs, ys, batch_size)

        def body(carry, batch):
            q, opt_state, step = carry
            xi, yi, k = batch
            beta = jnp.minimum(1.0, step / warmup) if warmup_fraction > 0 else 1.0
            grads = jax.grad(loss)(q, xi, yi, k, beta)
            updates, opt_state = optimizer.update(grads, opt_state, q)
            return (optax.apply_updates(q, updates), opt_state, step + 1), None

        keys = jax.random.split(noise_key, xb.shape[0])
        (q, opt_state, step), _ = jax.lax.scan(body, (q, opt_state, step), (xb, yb, keys))
        return q, opt_state, step

    xs, ys = jnp.asarray(x), jnp.asarray(y)
    opt_state = optimizer.init(posterior)
    step = jnp.float32(0)
    train_key, eval_key = jax.random.split(key)
    for i in tqdm(range(epochs), disable=not progress, desc="variational", unit="epoch"):
        posterior, opt_state, step = epoch(
            posterior, opt_state, step, jax.random.fold_in(train_key, i), xs, ys
        )

    data_bits = [
        evaluate(graphdef, sample(posterior, k), x, y)[0]
        for k in jax.random.split(eval_key, samples)
    ]
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
