"""Learned bit width per group, with its size penalty (DiffQ).

Each selected tensor's last axis (output units) is cut into ``groups`` contiguous groups; group
``g`` has a learned bit width ``b_g`` in ``[b_min, b_max]`` and is quantized to the symmetric
grid of ``2^b - 1`` levels ``k * Delta``, ``|k| <= L = 2^(b-1) - 1``, ``Delta = max|w_g| / L``
(the grid includes zero). Training replaces rounding by pseudo-quantization noise
``w + Delta u``, ``u ~ U(-1/2, 1/2)``, differentiable in ``b`` through ``Delta``, and the size
penalty is the code length ``sum_g n_g log2(2^b_g - 1)``: every weight of the group costs the
same ``log2(2L + 1)`` bits under the uniform code the file uses (Defossez, Adi, Synnaeve,
"Differentiable model compression via pseudo quantization noise", TMLR 2022, "DiffQ").

``apply`` adds that noise (the relaxed weights), ``hard`` rounds to the grid of the rounded
widths: ``clip(round(w / Delta), -L, L) Delta``. At the hard weights ``bits()`` is exactly what
the file's rANS streams hold, plus 32 bits per group for ``Delta`` and 32 per group for ``L``
(the uniform prior's half width); unselected leaves cost 32 bits per scalar.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mdl.codec.model import GroupedLeaf, group_index
from mdl.codes.priors import DiscretizedUniform
from mdl.compress.base import FLOAT32_BITS, Compressor, Selection, leafwise

MAX_BITS = 16  # 2^16 - 1 levels: beyond this a float32 weight gains nothing


class BitWidthState(NamedTuple):
    r"""`learned_bit_width`'s state per tensor: one logit per group; the group's bit width is
    $b = b_{\min} + (b_{\max} - b_{\min})\,\sigma(\text{bit\_logit})$."""

    bit_logit: jax.Array  # [groups]; bits = b_min + (b_max - b_min) sigmoid(bit_logit)


def learned_bit_width(
    select: Selection = None,
    *,
    groups: int = 4,
    bits_range: tuple[int, int] = (2, 8),
    init_bits: float = 6.0,
) -> Compressor:
    r"""DiffQ quantization with a learned bit width per group (module doc).

    Group $g$ (of $n_g$ weights) has width $b_g = b_{\min} + (b_{\max} - b_{\min})
    \sigma(\ell_g)$, rounded (straight-through) to a whole number, half width
    $L_g = 2^{b_g - 1} - 1$ and step $\Delta_g = \max_{j \in g} |w_j| / L_g$; ``hard`` is
    $\operatorname{clip}(\operatorname{round}(w / \Delta_g), -L_g, L_g)\,\Delta_g$ and
    ``apply`` is $w + \Delta_g u$, $u \sim U(-\tfrac12, \tfrac12)$. ``bits`` is, per tensor,
    $\sum_g n_g \log_2(2^{b_g} - 1) + 64 G$ bits (the uniform code over $2 L_g + 1$ levels,
    plus 32 bits each for $\Delta_g$ and $L_g$ of the $G$ groups); unselected leaves cost 32
    bits per scalar.

    Args:
      select: which leaves (regex, predicate, or None for ``ndim >= 2``).
      groups: groups per tensor along its last axis (at most that axis's size).
      bits_range: ``(b_min, b_max)``, whole numbers with ``2 <= b_min < b_max <= 16``.
      init_bits: starting bit width, strictly inside ``bits_range``.

    Returns:
      A `Compressor` whose state per tensor is a `BitWidthState`.

    Raises:
      ValueError: for a bad ``bits_range``, ``init_bits`` or ``groups``, or (at ``init``) a
        tensor with fewer than ``groups`` units on its last axis.

    References:
      A. Défossez, Y. Adi, G. Synnaeve, "Differentiable model compression via pseudo
      quantization noise", TMLR 2022 (DiffQ).
    """
    b_min, b_max = bits_range
    if not (isinstance(b_min, int) and isinstance(b_max, int) and 2 <= b_min < b_max <= MAX_BITS):
        raise ValueError(
            f"bits_range must be whole numbers 2 <= b_min < b_max <= {MAX_BITS}; got {bits_range}"
        )
    if not b_min < init_bits < b_max:
        raise ValueError(f"init_bits must lie strictly inside {bits_range}; got {init_bits}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive integer; got {groups}")
    start_logit = math.log((init_bits - b_min) / (b_max - init_bits))

    def init(path, w):
        shape = np.shape(w)
        if len(shape) < 1 or shape[-1] < groups:
            raise ValueError(f"leaf {path!r} of shape {shape} has fewer than groups={groups} units")
        return BitWidthState(jnp.full((groups,), start_logit, jnp.float32))

    def bit_widths(state: BitWidthState, hard: bool):
        bits = b_min + (b_max - b_min) * jax.nn.sigmoid(state.bit_logit)
        # Straight-through rounding: hard values, the continuous widths' gradient.
        return bits + jax.lax.stop_gradient(jnp.round(bits) - bits) if hard else bits

    def grid(w, state, hard: bool):
        """Per-channel ``(Delta, L)`` broadcast over ``w``, and the group index."""
        index = jnp.asarray(group_index(w.shape[-1], groups))
        bits = bit_widths(state, hard=False)
        half = 2.0 ** (bits - 1) - 1
        if hard:
            # Exact whole-number half widths (2^(b-1) - 1 is exact in float32), with the
            # continuous width's gradient: symbols then never exceed the file's grid.
            exact = 2.0 ** (jnp.round(bits) - 1) - 1
            half = half + jax.lax.stop_gradient(exact - half)
            bits = bit_widths(state, hard=True)
        magnitude = jnp.stack(
            [jnp.max(jnp.abs(jnp.where(index == g, w, 0.0))) for g in range(groups)]
        )
        delta = jnp.maximum(magnitude, 1e-30) / half
        return delta[index], half[index], bits

    def relaxed(w, state, key):
        delta, _, _ = grid(w, state, hard=False)
        return w + delta * jax.random.uniform(key, w.shape, minval=-0.5, maxval=0.5)

    @jax.jit
    def hard_weights(w, state):
        delta, half, _ = grid(w, state, hard=True)
        return jnp.clip(jnp.round(w / delta), -half, half) * delta

    def bits(w, state):
        widths = bit_widths(state, hard=True)
        counts = np.bincount(group_index(np.shape(w)[-1], groups), minlength=groups)
        per_group = counts * (np.size(w) // np.shape(w)[-1])
        # log2(2^b - 1) = b + log2(1 - 2^-b): the uniform code over 2L + 1 levels.
        per_weight = widths + jnp.log2(-jnp.expm1(-widths * math.log(2)))
        return jnp.sum(per_weight * per_group) + 2 * FLOAT32_BITS * groups

    def finalize(w, state):
        w = jnp.asarray(w, jnp.float32)
        delta, half, widths = grid(w, state, hard=True)
        # the bins of hard()'s own compiled output (as the quantizer's finalize: recomputing
        # round(w / delta) op by op can round an exact half bin the other way)
        weights = np.asarray(hard_weights(w, state), np.float64)
        symbols = np.rint(weights / np.asarray(delta, np.float64)).astype(np.int64)
        index = group_index(w.shape[-1], groups)
        first = [int(np.argmax(index == g)) for g in range(groups)]
        steps = np.asarray(delta, np.float32).reshape(-1, w.shape[-1])[0, first]
        halves = [np.float32(2.0 ** (int(round(float(b))) - 1) - 1) for b in widths]
        return GroupedLeaf(symbols, steps, tuple(DiscretizedUniform(h) for h in halves))

    return leafwise(
        select, init=init, relaxed=relaxed, hard=hard_weights, bits=bits, finalize=finalize
    )
