"""Pruning: hard-concrete L0 gates, magnitude pruning with sparsity schedules, sparse
variational dropout.

A pruner decides which weights are zero. For a selected tensor ``w`` of ``n`` entries, ``hard``
gives the pruned weights ``w'`` (``k`` of them nonzero) and, on its own, ``finalize`` writes
them as a `SparseLeaf`: the nonzero pattern as Bernoulli(``k/n``) flags,
``n h2(k/n)`` bits (``h2(r) = -r log2 r - (1 - r) log2(1 - r)``), plus 32 bits per kept value
and 32 for the rate. ``bits()`` has the value ``n h2(k/n) + 32 k + 32`` at the hard weights,
exactly what the file holds less its header: zeros are never free. Where training follows a
smooth stand-in (the expected count of open gates, the KL to a log-uniform prior), ``bits()``
takes the stand-in's gradient and the file's value. Chained before a quantizer
(``chain(hard_concrete(), quantizer())``), the quantizer's spike-and-slab prior pays for the
zeros instead and the kept values cost a few bits each.

* `hard_concrete`: L0 regularization with hard-concrete gates (Louizos, Welling, Kingma,
  "Learning sparse neural networks through L0 regularization", ICLR 2018), one gate per weight
  or, with ``structured=True``, one per output unit (a neuron's column, a convolution's
  filter: the last axis). ``apply`` samples the gates (reparameterized), ``hard`` uses their
  deterministic values.
* `magnitude`: the smallest-magnitude fraction ``s(t)`` of each tensor is zeroed, the
  fraction following a schedule of the step count ``t`` (Zhu and Gupta, "To prune, or not to
  prune", 2017; the polynomial decay behind TensorFlow Model Optimization's
  ``PolynomialDecay``). ``t`` and ``s(t)`` live in the state as ``"schedule"`` leaves: the
  trainer calls ``advance(cstate)`` after every optimizer step, and no optimizer moves them.
* `sparse_variational_dropout`: Gaussian weight noise with learned variances;
  ``apply`` adds the noise, ``hard`` prunes the noisiest weights.

Noise keys are derived as for every compressor (`leafwise`): leaf
``i`` of ``sorted(cstate)`` draws with ``fold_in(key, i)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mdl.codec.model import SparseLeaf
from mdl.codes.sparse import sparse_leaf_bits
from mdl.compress.base import SCHEDULE, Compressor, Selection, leafwise

_TINY = float(np.finfo(np.float32).tiny)


def _flush_subnormal(w):
    """Subnormal values to exact zeros: XLA on CPU compares them as zero (flush-to-zero) while
    numpy does not, so without this the count in bits() and the file's pattern could differ.
    The gradient passes straight through: a ``where`` would give exact zeros (a sparse delta,
    whose weights start at exactly zero) a zero gradient, and they could never grow."""
    flushed = jnp.where(jnp.abs(w) >= _TINY, w, jnp.zeros_like(w))
    return w + jax.lax.stop_gradient(flushed - w)


def _sparse_bits(hard_w, expected_kept=None):
    """``sparse_leaf_bits(n, k)`` of the hard weights (``k`` their nonzero count); with
    ``expected_kept``, ``k`` takes that count's gradient (straight-through)."""
    kept = jnp.sum(hard_w != 0).astype(jnp.float32)
    if expected_kept is not None:
        kept = expected_kept + jax.lax.stop_gradient(kept - expected_kept)
    return sparse_leaf_bits(float(np.size(hard_w)), kept)


def _pruner(select, *, init, hard, relaxed=None, bits=None, advance=None, labels=None):
    """`leafwise` for a pruner: each selected leaf is written as a
    ``SparseLeaf`` of its hard weights, and ``bits`` defaults to that leaf's length."""
    hard = jax.jit(hard)  # the same program as leafwise's hard: the file holds its exact bits

    def file_bits(w, state):
        return _sparse_bits(hard(w, state))

    def finalize(w, state):
        return SparseLeaf(np.asarray(hard(jnp.asarray(w), state), np.float32))

    return leafwise(
        select,
        init=init,
        relaxed=relaxed,
        hard=hard,
        bits=bits or file_bits,
        finalize=finalize,
        advance=advance,
        labels=labels,
    )


# --- Hard-concrete L0 gates -------------------------------------------------------------------


class GateState(NamedTuple):
    log_alpha: jax.Array  # the weight's shape, or [units] when structured


def hard_concrete(
    select: Selection = None,
    *,
    structured: bool = False,
    temperature: float = 2.0 / 3.0,
    limits: tuple[float, float] = (-0.1, 1.1),
    init_keep: float = 0.9,
) -> Compressor:
    r"""Hard-concrete gates ``g`` on the selected weights: the model runs with ``w * g``.

    ``apply`` samples ``g = min(1, max(0, s (zeta - gamma) + gamma))``, ``s = sigmoid((log u -
    log(1 - u) + log alpha) / temperature)``, ``u ~ U(0, 1)`` (reparameterized, so ``log alpha``
    learns); ``hard`` uses the deterministic gate ``min(1, max(0, sigmoid(log alpha)(zeta -
    gamma) + gamma))``. ``P(g != 0) = sigmoid(log alpha - temperature log(-gamma / zeta))``
    gives the expected number of kept weights, whose gradient trains the gates; ``bits()``
    takes its value from the hard gates (straight-through), so it is the file's length.

    In symbols, with $\beta$ = ``temperature`` and $(\gamma, \zeta)$ = ``limits``:
    $s = \sigma\big((\log u - \log(1 - u) + \log \alpha) / \beta\big)$,
    $g = \min(1, \max(0, s(\zeta - \gamma) + \gamma))$, and
    $P(g \ne 0) = \sigma(\log \alpha - \beta \log(-\gamma / \zeta))$. ``bits`` is, per
    selected tensor of $n$ weights with $k$ kept by the hard gates,
    $n\,h_2(k/n) + 32k + 32$ bits, $h_2(r) = -r \log_2 r - (1 - r) \log_2(1 - r)$
    (`mdl.codes.sparse.sparse_leaf_bits`), with the gradient of $k$ taken from
    $\sum_j P(g_j \ne 0)$ (a structured gate counted once per weight it covers).

    Args:
      select: which leaves (regex, predicate, or None for ``ndim >= 2``).
      structured: one gate per output unit (the last axis) instead of one per weight.
      temperature: $\beta > 0$.
      limits: the stretch interval $(\gamma, \zeta)$, $\gamma < 0$, $\zeta > 1$.
      init_keep: the initial $P(g \ne 0)$ of every gate, in $(0, 1)$.

    Returns:
      A `Compressor` whose ``finalize`` writes ``SparseLeaf`` leaves.

    References:
      C. Louizos, M. Welling, D. P. Kingma, "Learning sparse neural networks through $L_0$
      regularization", ICLR 2018.
    """
    gamma, zeta = limits
    if not gamma < 0 < 1 < zeta:
        raise ValueError(f"limits must satisfy gamma < 0 and zeta > 1; got {limits}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    if not 0 < init_keep < 1:
        raise ValueError(f"init_keep must be in (0, 1); got {init_keep}")
    shift = temperature * math.log(-gamma / zeta)
    start = math.log(init_keep / (1 - init_keep)) + shift  # P(g != 0) = init_keep at first

    def init(path, w):
        shape = np.shape(w)
        if structured and len(shape) < 1:
            raise ValueError(f"structured gates need tensors with an output axis; {path!r}")
        return GateState(jnp.full(shape[-1:] if structured else shape, start, jnp.float32))

    def stretch(s):
        return jnp.clip(s * (zeta - gamma) + gamma, 0.0, 1.0)

    def hard(w, state):
        # The gate broadcasts over the last axis when structured.
        return _flush_subnormal(w * stretch(jax.nn.sigmoid(state.log_alpha)))

    def relaxed(w, state, key):
        log_alpha = state.log_alpha
        u = jax.random.uniform(key, log_alpha.shape, minval=1e-6, maxval=1 - 1e-6)
        s = jax.nn.sigmoid((jnp.log(u) - jnp.log1p(-u) + log_alpha) / temperature)
        return _flush_subnormal(w * stretch(s))

    def bits(w, state):
        p_open = jax.nn.sigmoid(state.log_alpha - shift)
        expected = jnp.sum(p_open) * (np.size(w) // p_open.size)
        return _sparse_bits(hard(w, state), expected)

    return _pruner(select, init=init, hard=hard, relaxed=relaxed, bits=bits)


# --- Magnitude pruning with schedules ------------------------------------------------------------


def constant_sparsity(sparsity: float, begin_step: int = 0) -> Callable:
    """A sparsity schedule for `magnitude`: ``s(t) = sparsity`` from ``begin_step`` on, 0 before.

    Args:
      sparsity: the fraction of each tensor to zero, in $[0, 1)$.
      begin_step: the step count $t$ from which it applies.

    Returns:
      ``schedule(step) -> s(step)``, jit-compatible.

    References:
      M. Zhu, S. Gupta, "To prune, or not to prune: exploring the efficacy of pruning for
      model compression", 2017.
    """
    _check_sparsity(sparsity, "sparsity")

    def schedule(step):
        return jnp.where(step >= begin_step, sparsity, 0.0)

    return schedule


def polynomial_decay_sparsity(
    initial: float, final: float, begin_step: int, end_step: int, power: float = 3.0
) -> Callable:
    r"""Zhu and Gupta's schedule: ``s(t) = s_f + (s_i - s_f)(1 - (t - t_0) / (t_1 - t_0))^p``
    for ``t_0 <= t <= t_1``, ``s_i`` before, ``s_f`` after (TF-MOT ``PolynomialDecay``).

    $$s(t) = s_f + (s_i - s_f)\Big(1 - \operatorname{clip}\Big(\frac{t - t_0}{t_1 - t_0},
    0, 1\Big)\Big)^p.$$

    Args:
      initial: $s_i$, in $[0, 1)$.
      final: $s_f$, in $[0, 1)$.
      begin_step: $t_0 \ge 0$.
      end_step: $t_1 > t_0$.
      power: $p > 0$.

    Returns:
      ``schedule(step) -> s(step)``, jit-compatible, for `magnitude`.

    References:
      M. Zhu, S. Gupta, "To prune, or not to prune: exploring the efficacy of pruning for
      model compression", 2017.
    """
    _check_sparsity(initial, "initial")
    _check_sparsity(final, "final")
    if not 0 <= begin_step < end_step:
        raise ValueError(f"need 0 <= begin_step < end_step; got {begin_step}, {end_step}")
    if not power > 0:
        raise ValueError(f"power must be > 0; got {power}")

    def schedule(step):
        progress = jnp.clip((step - begin_step) / (end_step - begin_step), 0.0, 1.0)
        return final + (initial - final) * (1.0 - progress) ** power

    return schedule


def _check_sparsity(value, name):
    if not 0 <= value < 1:
        raise ValueError(f"{name} sparsity must be in [0, 1); got {value}")


class MagnitudeState(NamedTuple):
    """Scheduled state of one pruned tensor (float32 scalars, labelled ``"schedule"``)."""

    sparsity: jax.Array  # s(t): the fraction of this tensor zeroed now
    count: jax.Array  # t: optimizer steps taken (advance adds one)


def magnitude(select: Selection = None, *, schedule: Callable | float = 0.9) -> Compressor:
    r"""Zero the smallest-magnitude fraction ``s(t)`` of each selected tensor.

    ``schedule`` is a sparsity (constant from step 0) or a function of the step count ``t``,
    e.g. `polynomial_decay_sparsity`. The state keeps ``t`` and ``s(t)``; ``advance``
    (called by the trainer after every optimizer step) sets ``t <- t + 1``, ``s <- s(t)``, and
    both are ``"schedule"`` leaves, which no optimizer moves. Training runs with the hard
    weights (the gradient reaches the kept ones).

    ``hard`` zeroes the $\lfloor s(t)\, n \rfloor$ smallest magnitudes of a tensor of $n$
    weights (ties at the threshold zeroed too); ``bits`` is, with $k$ weights kept,
    $n\,h_2(k/n) + 32k + 32$ bits, $h_2(r) = -r \log_2 r - (1 - r) \log_2(1 - r)$
    (`mdl.codes.sparse.sparse_leaf_bits`), and 32 bits per scalar of the unselected leaves.

    Args:
      select: which leaves (regex, predicate, or None for ``ndim >= 2``).
      schedule: a sparsity in $[0, 1)$ or a function of the step count (`constant_sparsity`,
        `polynomial_decay_sparsity`).

    Returns:
      A `Compressor` whose ``finalize`` writes ``SparseLeaf`` leaves.

    References:
      S. Han, J. Pool, J. Tran, W. J. Dally, "Learning both weights and connections for
      efficient neural networks", NeurIPS 2015 (magnitude pruning); M. Zhu, S. Gupta, "To
      prune, or not to prune", 2017 (the schedule).
    """
    if not callable(schedule):
        schedule = constant_sparsity(float(schedule))

    def init(path, w):
        return MagnitudeState(jnp.asarray(schedule(0), jnp.float32), jnp.float32(0.0))

    def hard(w, state):
        magnitudes = jnp.sort(jnp.abs(w).reshape(-1))
        count = jnp.floor(state.sparsity * magnitudes.size).astype(jnp.int32)
        # Zero the `count` smallest: everything at or below the count-th smallest magnitude.
        threshold = jnp.where(count > 0, magnitudes[jnp.maximum(count - 1, 0)], -1.0)
        return _flush_subnormal(jnp.where(jnp.abs(w) > threshold, w, 0.0))

    def advance(state):
        count = state.count + 1
        return MagnitudeState(jnp.asarray(schedule(count), jnp.float32), count)

    def labels(state):
        return MagnitudeState(SCHEDULE, SCHEDULE)

    return _pruner(select, init=init, hard=hard, advance=advance, labels=labels)


# --- Sparse variational dropout ---------------------------------------------------------------

# Molchanov, Ashukha, Vetrov's fit of -KL(q || log-uniform prior) as a function of log alpha.
_K1, _K2, _K3 = 0.63576, 1.87320, 1.48695


class DropoutState(NamedTuple):
    log_sigma2: jax.Array  # the weight's shape: the posterior's log variance


def sparse_variational_dropout(
    select: Selection = None, *, threshold: float = 3.0, init_log_sigma2: float = -10.0
) -> Compressor:
    r"""Sparse variational dropout (Molchanov, Ashukha, Vetrov, "Variational dropout sparsifies
    deep neural networks", ICML 2017): each selected weight is ``N(theta, sigma^2)``, trained
    with additive reparameterization ``theta + sigma eps`` (``apply``); ``log alpha = log
    sigma^2 - log theta^2`` measures its noise, and ``hard`` prunes the weights with ``log
    alpha >= threshold``.

    ``bits()`` has the value of the pruned tensors' file (``SparseLeaf``: ``n h2(k/n) + 32 k``)
    and the gradient of the approximate KL to the log-uniform prior (in bits), the regularizer
    that drives ``alpha`` up: an estimate that trains like the paper and counts like the file.

    With $\log \alpha = \operatorname{clip}(\log \sigma^2 - \log(\theta^2 + 10^{-8}),
    -10, 10)$, the surrogate is the paper's fit
    $-\mathrm{KL} \approx k_1 \sigma(k_2 + k_3 \log \alpha) - \tfrac12 \log(1 +
    \alpha^{-1}) - k_1$ ($k_1 = 0.63576$, $k_2 = 1.87320$, $k_3 = 1.48695$), summed and
    divided by $\ln 2$; ``bits``'s value is $n\,h_2(k/n) + 32k + 32$ bits, with
    $h_2(r) = -r \log_2 r - (1 - r) \log_2(1 - r)$.

    Args:
      select: which leaves (regex, predicate, or None for ``ndim >= 2``).
      threshold: prune where $\log \alpha \ge$ ``threshold`` (finite).
      init_log_sigma2: the initial $\log \sigma^2$ of every weight.

    Returns:
      A `Compressor` whose ``finalize`` writes ``SparseLeaf`` leaves.

    References:
      D. Molchanov, A. Ashukha, D. Vetrov, "Variational dropout sparsifies deep neural
      networks", ICML 2017.
    """
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite; got {threshold}")

    def init(path, w):
        return DropoutState(jnp.full(np.shape(w), init_log_sigma2, jnp.float32))

    def log_alpha(state, w):
        return jnp.clip(state.log_sigma2 - jnp.log(w**2 + 1e-8), -10.0, 10.0)

    def hard(w, state):
        return _flush_subnormal(jnp.where(log_alpha(state, w) < threshold, w, 0.0))

    def relaxed(w, state, key):
        sigma = jnp.exp(0.5 * state.log_sigma2)
        return w + sigma * jax.random.normal(key, w.shape, w.dtype)

    def bits(w, state):
        la = log_alpha(state, w)
        neg_kl = _K1 * jax.nn.sigmoid(_K2 + _K3 * la) - 0.5 * jnp.log1p(jnp.exp(-la)) - _K1
        surrogate = -jnp.sum(neg_kl) / math.log(2)
        return surrogate + jax.lax.stop_gradient(_sparse_bits(hard(w, state)) - surrogate)

    return _pruner(select, init=init, hard=hard, relaxed=relaxed, bits=bits)
