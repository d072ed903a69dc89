"""Pruning: hard-concrete L0 gates and magnitude pruning with sparsity schedules.

A pruner decides which weights are zero. On its own it writes each selected tensor as a
:class:`~mdl.codec.model.SparseLeaf` (the nonzero pattern, ``n h2(k/n)`` bits, plus 32 bits per
kept value), and ``bits()`` is that length at the hard weights (exactly what the file holds,
less the header): zeros are never free. Chained before a quantizer
(``chain(hard_concrete(), quantizer())``), the quantizer's spike-and-slab prior pays for the
zeros instead and the kept values cost a few bits each.

* :func:`hard_concrete`: L0 regularization with hard-concrete gates (Louizos, Welling, Kingma,
  "Learning sparse neural networks through L0 regularization", ICLR 2018), one gate per weight
  or, with ``structured=True``, one per output unit (a neuron's column, a convolution's
  filter: the last axis).
* :func:`magnitude`: the smallest-magnitude fraction of each tensor is zeroed, the fraction
  following a schedule (Zhu and Gupta, "To prune, or not to prune", 2017; the polynomial
  decay behind TensorFlow Model Optimization's ``PolynomialDecay``), advanced by the trainer
  through the compressor's ``update(cstate, step)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mdl.codec.model import SparseLeaf, sparse_leaf_bits
from mdl.compress.base import (
    Compressor,
    Selection,
    check_finite_params,
    leaves_with_paths,
    map_leaves,
    selected_bits,
    selected_finalize,
    selected_paths,
)

_TINY = float(np.finfo(np.float32).tiny)


def _flush_subnormal(w):
    """Subnormal values to exact zeros: XLA on CPU compares them as zero (flush-to-zero) while
    numpy does not, so without this the count in bits() and the file's pattern could differ."""
    return jnp.where(jnp.abs(w) >= _TINY, w, jnp.zeros_like(w))


def _straight_through_count(expected, hard):
    """The hard count's value with the expected count's gradient."""
    return expected + jax.lax.stop_gradient(hard - expected)


def _pruned_bits(params, selected: dict, hard_fn, expected_count_fn=None):
    """Bits of every leaf: SparseLeaf length for the selected ones (at the hard weights),
    32 per scalar for the others."""

    def leaf_bits(path, w, state):
        kept = jnp.sum(hard_fn(path, w) != 0).astype(jnp.float32)
        if expected_count_fn is not None:
            kept = _straight_through_count(expected_count_fn(path, w), kept)
        return sparse_leaf_bits(float(np.size(w)), kept)

    return selected_bits(params, selected, leaf_bits)


def _finalize_pruned(params, selected, hard_fn):
    def leaf_finalize(path, w, state):
        return SparseLeaf(np.asarray(hard_fn(path, jnp.asarray(w)), np.float32))

    return selected_finalize(params, selected, leaf_finalize)


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
    """Hard-concrete gates ``g`` on the selected weights: the model runs with ``w * g``.

    With a key, ``g = min(1, max(0, s (zeta - gamma) + gamma))``, ``s = sigmoid((log u -
    log(1 - u) + log alpha) / temperature)``, ``u ~ U(0, 1)`` (reparameterized, so ``log alpha``
    learns); without, the deterministic gate ``min(1, max(0, sigmoid(log alpha)(zeta - gamma)
    + gamma))``. ``P(g != 0) = sigmoid(log alpha - temperature log(-gamma / zeta))`` gives the
    expected number of kept weights, whose gradient trains the gates; ``bits()`` takes its
    value from the hard gates (straight-through), so it is the file's length.
    """
    gamma, zeta = limits
    if not gamma < 0 < 1 < zeta:
        raise ValueError(f"limits must satisfy gamma < 0 and zeta > 1; got {limits}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    if not 0 < init_keep < 1:
        raise ValueError(f"init_keep must be in (0, 1); got {init_keep}")
    shift = temperature * math.log(-gamma / zeta)

    def init(params, key=None):
        check_finite_params(params)
        leaves = dict(leaves_with_paths(params))
        # log alpha such that P(g != 0) = init_keep at the start.
        start = math.log(init_keep / (1 - init_keep)) + shift
        state = {}
        for path in selected_paths(params, select):
            shape = np.shape(leaves[path])
            if structured and len(shape) < 1:
                raise ValueError(f"structured gates need tensors with an output axis; {path!r}")
            gate_shape = shape[-1:] if structured else shape
            state[path] = GateState(jnp.full(gate_shape, start, jnp.float32))
        return state

    def gate(state: GateState, key):
        log_alpha = state.log_alpha
        if key is None:
            s = jax.nn.sigmoid(log_alpha)
        else:
            u = jax.random.uniform(key, log_alpha.shape, minval=1e-6, maxval=1 - 1e-6)
            s = jax.nn.sigmoid((jnp.log(u) - jnp.log1p(-u) + log_alpha) / temperature)
        return jnp.clip(s * (zeta - gamma) + gamma, 0.0, 1.0)

    def gated(cstate, key):
        def fn(path, w):
            if path not in cstate:
                return w
            k = None if key is None else jax.random.fold_in(key, sorted(cstate).index(path))
            # The gate broadcasts over the last axis when structured.
            return _flush_subnormal(w * gate(cstate[path], k))

        return fn

    def apply(params, cstate, key=None):
        return map_leaves(params, gated(cstate, key))

    def expected_kept(cstate):
        def fn(path, w):
            p_open = jax.nn.sigmoid(cstate[path].log_alpha - shift)
            per_gate = np.size(w) // p_open.size
            return jnp.sum(p_open) * per_gate

        return fn

    def bits(params, cstate):
        return _pruned_bits(params, cstate, gated(cstate, None), expected_kept(cstate))

    def finalize(params, cstate):
        return _finalize_pruned(params, cstate, gated(cstate, None))

    return Compressor(init, apply, bits, finalize)


# --- Magnitude pruning with schedules ------------------------------------------------------------


def constant_sparsity(sparsity: float, begin_step: int = 0) -> Callable:
    """``s(t) = sparsity`` from ``begin_step`` on, 0 before."""
    _check_sparsity(sparsity, "sparsity")

    def schedule(step):
        return jnp.where(step >= begin_step, sparsity, 0.0)

    return schedule


def polynomial_decay_sparsity(
    initial: float, final: float, begin_step: int, end_step: int, power: float = 3.0
) -> Callable:
    """Zhu and Gupta's schedule: ``s(t) = s_f + (s_i - s_f)(1 - (t - t_0) / (t_1 - t_0))^p``
    for ``t_0 <= t <= t_1``, ``s_i`` before, ``s_f`` after (TF-MOT ``PolynomialDecay``)."""
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
    sparsity: jax.Array  # the fraction of this tensor to zero now (set by update)


def magnitude(select: Selection = None, *, schedule: Callable | float = 0.9) -> Compressor:
    """Zero the smallest-magnitude ``s(step)`` fraction of each selected tensor.

    ``schedule`` is a sparsity (constant from step 0) or a function of the training step, e.g.
    :func:`polynomial_decay_sparsity`. The trainer calls ``update(cstate, step)`` after each
    step to move the sparsity along the schedule (it is not learned).
    """
    if not callable(schedule):
        schedule = constant_sparsity(float(schedule))

    def init(params, key=None):
        check_finite_params(params)
        start = jnp.asarray(schedule(0), jnp.float32)
        return {path: MagnitudeState(start) for path in selected_paths(params, select)}

    def pruned(cstate):
        def fn(path, w):
            if path not in cstate:
                return w
            magnitudes = jnp.sort(jnp.abs(w).reshape(-1))
            count = jnp.floor(cstate[path].sparsity * magnitudes.size).astype(jnp.int32)
            # Zero the `count` smallest: everything at or below the count-th smallest magnitude.
            threshold = jnp.where(count > 0, magnitudes[jnp.maximum(count - 1, 0)], -1.0)
            return _flush_subnormal(jnp.where(jnp.abs(w) > threshold, w, 0.0))

        return fn

    def apply(params, cstate, key=None):
        return map_leaves(params, pruned(cstate))

    def bits(params, cstate):
        return _pruned_bits(params, cstate, pruned(cstate))

    def finalize(params, cstate):
        return _finalize_pruned(params, cstate, pruned(cstate))

    def update(cstate, step):
        value = jnp.asarray(schedule(step), jnp.float32)
        return {path: MagnitudeState(value) for path in cstate}

    return Compressor(init, apply, bits, finalize, update)


# --- Sparse variational dropout ---------------------------------------------------------------

# Molchanov, Ashukha, Vetrov's fit of -KL(q || log-uniform prior) as a function of log alpha.
_K1, _K2, _K3 = 0.63576, 1.87320, 1.48695


class DropoutState(NamedTuple):
    log_sigma2: jax.Array  # the weight's shape: the posterior's log variance


def sparse_variational_dropout(
    select: Selection = None, *, threshold: float = 3.0, init_log_sigma2: float = -10.0
) -> Compressor:
    """Sparse variational dropout (Molchanov, Ashukha, Vetrov, "Variational dropout sparsifies
    deep neural networks", ICML 2017): each selected weight is ``N(theta, sigma^2)``, trained
    with additive reparameterization ``theta + sigma eps``; ``log alpha = log sigma^2 - log
    theta^2`` measures its noise, and weights with ``log alpha >= threshold`` are pruned.

    ``bits()`` has the value of the pruned tensors' file (``SparseLeaf``: ``n h2(k/n) + 32 k``)
    and the gradient of the approximate KL to the log-uniform prior (in bits), the regularizer
    that drives ``alpha`` up: an estimate that trains like the paper and counts like the file.
    """
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite; got {threshold}")

    def init(params, key=None):
        check_finite_params(params)
        leaves = dict(leaves_with_paths(params))
        return {
            path: DropoutState(jnp.full(np.shape(leaves[path]), init_log_sigma2, jnp.float32))
            for path in selected_paths(params, select)
        }

    def log_alpha(state, w):
        return jnp.clip(state.log_sigma2 - jnp.log(w**2 + 1e-8), -10.0, 10.0)

    def pruned(cstate):
        def fn(path, w):
            if path not in cstate:
                return w
            return _flush_subnormal(jnp.where(log_alpha(cstate[path], w) < threshold, w, 0.0))

        return fn

    def apply(params, cstate, key=None):
        if key is None:
            return map_leaves(params, pruned(cstate))

        def noisy(path, w):
            if path not in cstate:
                return w
            k = jax.random.fold_in(key, sorted(cstate).index(path))
            sigma = jnp.exp(0.5 * cstate[path].log_sigma2)
            return w + sigma * jax.random.normal(k, w.shape, w.dtype)

        return map_leaves(params, noisy)

    def kl_bits(params, cstate):
        total = jnp.float32(0.0)
        for path, w in leaves_with_paths(params):
            if path in cstate:
                la = log_alpha(cstate[path], w)
                neg_kl = _K1 * jax.nn.sigmoid(_K2 + _K3 * la) - 0.5 * jnp.log1p(jnp.exp(-la)) - _K1
                total = total - jnp.sum(neg_kl) / math.log(2)
        return total

    def bits(params, cstate):
        file_bits = _pruned_bits(params, cstate, pruned(cstate))
        surrogate = kl_bits(params, cstate)
        return surrogate + jax.lax.stop_gradient(file_bits - surrogate)

    def finalize(params, cstate):
        return _finalize_pruned(params, cstate, pruned(cstate))

    return Compressor(init, apply, bits, finalize)
