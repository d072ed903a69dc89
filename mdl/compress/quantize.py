"""Learned quantization with a learned, discretized prior: the rate is the file size.

Each selected tensor ``w`` is described as integer bins ``k = round(w / s)`` with a learned step
``s = exp(log_step)``, coded with a learned discretized prior ``P`` over bins (Laplace, or
spike-and-slab with a point mass at zero that prices pruned weights). ``hard`` gives the weights
``round(w / s) * s`` the file decodes to; training (``apply``, with a key) sees

* ``relaxation="ste"``: straight-through rounding, ``k = x + stop_gradient(round(x) - x)``,
  ``x = w / s`` (the step's gradient is LSQ's: Esser et al., "Learned step size quantization",
  ICLR 2020);
* ``relaxation="noise"``: additive uniform noise ``k = x + u``, ``u ~ U(-1/2, 1/2)`` (Balle,
  Laparra, Simoncelli 2017; Oktay et al., "Scalable model compression by entropy penalized
  reparameterization", ICLR 2020). A prototype found noise alone lets networks rely on noise
  averaging out (60-70% error when hard-rounded), so STE is the default.

The rate ``bits()`` is ``sum_j -log2 P(round(w_j / s))`` at the *hard* bins (with straight-
through gradients), plus 32 bits for each side-information scalar (step, prior parameters),
plus 32 bits per scalar of every unselected leaf: the same numbers the codec writes. The state
(steps, prior scales, spike logits, mixture parameters) is all learned; nothing follows a
schedule.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from mdl.codec.leaves import live_units
from mdl.codec.model import GroupedLeaf, LiveBlockLeaf, group_bounds, group_index
from mdl.codes.priors import (
    DiscretizedGaussian,
    DiscretizedLaplace,
    DiscretizedLogistic,
    DiscretizedMixture,
    SpikeAndSlab,
)
from mdl.compress.base import FLOAT32_BITS, Compressor, QuantizedLeaf, Selection, leafwise

PRIORS = ("laplace", "logistic", "spike_laplace", "spike_logistic", "mixture")
MIN_PRIOR_SCALE = 0.05  # bins; keeps the slab from collapsing into a degenerate spike
MIN_SPREAD = 1e-8  # spreads at or below this count as zero
DEFAULT_SPREAD = 1e-2  # the spread assumed for all-zero tensors (initial step 1e-2 / 4)


class QuantState(NamedTuple):
    """Learnable state of one quantized tensor (all scalars, float32)."""

    log_step: jax.Array
    log_scale: jax.Array  # prior scale in bins, minus MIN_PRIOR_SCALE, log
    spike_logit: jax.Array  # used by spike priors only (still stored, never charged otherwise)
    # Soft weight-sharing (prior="mixture"): component centers in bins and mixing logits;
    # log_scale then holds one scale per component. None for the other priors.
    mixture_loc: jax.Array | None = None
    mixture_logits: jax.Array | None = None


def _bins(w, step):
    """``w / step``, computed as ``w * (1 / step)``: a multiply is cheap enough that XLA
    recomputes it inside every fusion that needs the bins, where a division's result would be
    written out as one more full-size array. ``finalize`` uses the same expression, so the
    file's bins are the trained model's, bit for bit."""
    return w * (1.0 / step)


def _sum_to_shape(values, shape):
    """Sum ``values`` over the leading axes along which an array of ``shape`` was broadcast."""
    extra = values.ndim - len(shape)
    values = jnp.sum(values, axis=tuple(range(extra))) if extra else values
    return jnp.reshape(values, shape)


def _quantized(w, step):
    """The hard weights ``round(w / step) * step``. The straight-through weights and the
    rate's statistics both start from this expression, so XLA computes it once per step (and
    the forward matmul needs it written out anyway)."""
    return jnp.round(_bins(w, step)) * step


# The quantizer's two per-weight computations, the straight-through weights and the rate's
# statistics, have hand-written backward passes. Every full-size reduction in them reads only
# the weights and the hard weights (arrays that exist anyway) through plain arithmetic, which
# XLA:CPU fuses into one library reduction; autodiff's version also wrote out the bins, their
# offsets and masks, and reduced over a rounding, which that library does not fuse. On
# LeNet-300-100 (benchmarks/train_step.py, 2 CPU cores) the step went from 1.66x the plain
# step's time to 1.2-1.4x.


@jax.custom_vjp
def _ste_quantize(w, step):
    """``round(w / step) * step`` with the straight-through (LSQ) gradients: ``1`` for ``w``,
    ``round(x) - x`` for ``step`` (``x = w / step``). The same values as
    ``_round_ste(w / step) * step``."""
    return _quantized(w, step)


def _ste_quantize_fwd(w, step):
    hard = _quantized(w, step)
    return hard, (w, step, hard)


def _ste_quantize_bwd(residuals, grad):
    w, step, hard = residuals
    # round(x) - x = (hard - w) / step: the offsets from the two arrays already in memory.
    return grad, _sum_to_shape(grad * (hard - w), jnp.shape(step)) / step


_ste_quantize.defvjp(_ste_quantize_fwd, _ste_quantize_bwd)


def _magnitude_sums(w, step):
    """``(hard, n, S, A)``: the hard weights, the number of nonzero bins, the sum of the bin
    magnitudes ``|round(x)|`` and, in the shape of ``step`` (per step, for per-group steps),
    the sum of ``|x|`` over the nonzero bins, ``x = w / step``."""
    hard = _quantized(w, step)
    nonzero = hard != 0
    shape = jnp.shape(step)
    n = jnp.sum(nonzero, dtype=jnp.float32)
    total = jnp.sum(_sum_to_shape(jnp.abs(hard), shape) / step)
    total_x = _sum_to_shape(jnp.where(nonzero, jnp.abs(w), 0.0), shape) / step
    return hard, n, total, total_x


@jax.custom_vjp
def _bin_magnitude_stats(w, step):
    """``(n, S)``: the number of nonzero bins of ``round(w / step)`` and the sum of their
    magnitudes. Gradients are straight-through: ``S`` moves with ``|w / step|`` at nonzero
    bins, ``n`` (a count) does not move."""
    _, n, total, _ = _magnitude_sums(w, step)
    return n, total


def _bin_magnitude_stats_fwd(w, step):
    hard, n, total, total_x = _magnitude_sums(w, step)
    return (n, total), (w, step, hard, total_x)


def _bin_magnitude_stats_bwd(residuals, grads):
    w, step, hard, total_x = residuals
    _, grad_sum = grads
    # dS/dw = sign(x) / step at nonzero bins (elementwise: it fuses into the optimizer's
    # update) and dS/dstep = -sum |x| / step over them, summed in the forward pass already.
    grad_w = jnp.where(hard != 0, jnp.sign(w), 0.0) * (grad_sum / step)
    return grad_w, -grad_sum * total_x / step


_bin_magnitude_stats.defvjp(_bin_magnitude_stats_fwd, _bin_magnitude_stats_bwd)


def _round_ste(x):
    return x + jax.lax.stop_gradient(jnp.round(x) - x)


def _make_prior(kind: str, state: QuantState):
    scale = MIN_PRIOR_SCALE + jnp.exp(state.log_scale)
    if kind == "mixture":
        components = DiscretizedGaussian(state.mixture_loc, scale)
        return DiscretizedMixture(state.mixture_logits, components)
    slab = (DiscretizedLogistic if kind.endswith("logistic") else DiscretizedLaplace)(0.0, scale)
    return SpikeAndSlab(state.spike_logit, slab) if kind.startswith("spike") else slab


def _h2_bits(live, size: int):
    """``size h2(live / size)``: the flags of ``live`` of ``size`` units, i.i.d.
    Bernoulli(``live / size``) (0 when all or none are live, as in the file)."""
    p = live / size
    return -size * (xlogy(p, p) + xlogy(1 - p, 1 - p)) / math.log(2)


def _live_block(w, step):
    """``(mask, coded, flag_bits)`` of a kernel ``[..., m, n]``'s live block
    (`mdl.codec.leaves.LiveBlockLeaf`): where a row (input unit) and a column (output unit)
    holding a nonzero bin meet, how many bins that is, and the bits of the two units' flags.
    Counts and flags move no gradient (as the nonzero count in the rate does not)."""
    rows, columns = live_units(jax.lax.stop_gradient(jnp.round(_bins(w, step)) != 0))
    mask = rows[:, None] & columns[None, :]
    r = jnp.sum(rows, dtype=jnp.float32)
    c = jnp.sum(columns, dtype=jnp.float32)
    coded = math.prod(w.shape[:-2]) * r * c
    m, n = w.shape[-2:]
    return mask, coded, _h2_bits(r, m) + _h2_bits(c, n)


def _laplace_rate_sum_bits(kind: str, state: QuantState, w, step, coded=None):
    """``sum_j -log2 P(k_j)`` for the zero-centered (spike-)Laplace prior, in closed form.

    With scale ``b``: ``P(0) = 1 - e^{-1/(2b)}`` and, for ``k != 0``,
    ``P(k) = (1/2) e^{-(|k| - 1/2)/b} (1 - e^{-1/b})``: ``-log2 P(k)`` is linear in ``|k|``,
    so the tensor's rate depends on the weights only through the number of zero bins and
    ``S = sum |k|`` over the others. The same pmf as ``DiscretizedLaplace(0, b)`` (which the
    codec evaluates), at the cost of one fused reduction over the weights (an ``abs`` and a
    sum) instead of several transcendentals per weight: the rate then costs little next to
    the network's own step. Gradients reach ``w`` and the step (straight-through) through
    ``S``; see `_bin_magnitude_stats`. ``coded``: how many bins are coded (default: all; a
    live block codes fewer, every nonzero bin among them).
    """
    b = MIN_PRIOR_SCALE + jnp.exp(state.log_scale)
    log_zero = jnp.log(-jnp.expm1(-0.5 / b))
    log_nonzero_base = math.log(0.5) + jnp.log(-jnp.expm1(-1.0 / b)) + 0.5 / b
    n_nonzero, total_magnitude = _bin_magnitude_stats(w, step)
    n_zero = jnp.float32(np.size(w) if coded is None else coded) - n_nonzero
    if kind.startswith("spike"):
        log_spike = jax.nn.log_sigmoid(state.spike_logit)
        log_rest = jax.nn.log_sigmoid(-state.spike_logit)
        log_zero = jnp.logaddexp(log_spike, log_rest + log_zero)
        log_nonzero_base = log_rest + log_nonzero_base
    log_p = n_zero * log_zero + n_nonzero * log_nonzero_base - total_magnitude / b
    return -log_p / math.log(2)


def _spread(w: np.ndarray) -> float:
    """The scale an initial step is derived from: the standard deviation, else (a constant
    tensor) the largest magnitude, else (zeros, such as freshly initialized biases, or values
    below 1e-8, which no network tells from zeros) ``DEFAULT_SPREAD``. Never a spread so small
    that the step underflows float32 or the bins of later weights explode."""
    for value in (float(np.std(w)), float(np.max(np.abs(w))) if np.size(w) else 0.0):
        if value > MIN_SPREAD:
            return value
    return DEFAULT_SPREAD


def _power_of_two(log_step):
    """``2^round(log_step / ln 2)``, exactly (``ldexp``, not ``exp``, so the value is the power
    of two itself), with the straight-through gradient of ``exp(log_step)``."""
    smooth = jnp.exp(log_step)
    exponent = jnp.round(jax.lax.stop_gradient(log_step) / math.log(2)).astype(jnp.int32)
    exact = jnp.ldexp(jnp.ones_like(smooth), exponent)
    return exact + (smooth - jax.lax.stop_gradient(smooth))


def step_values(log_step, power_of_two: bool):
    """The learned steps (one, or one per group) from their logarithms; with
    ``power_of_two``, each rounded to the nearest power of two (straight-through). Public for
    the compressors built on a quantizer's state (`mdl.compress.low_rank`)."""
    return _power_of_two(log_step) if power_of_two else jnp.exp(log_step)


def _channel_steps(state: QuantState, w, power_of_two: bool = False):
    """The step of every weight: a scalar, or per-group steps spread over the last axis."""
    step = step_values(state.log_step, power_of_two)
    if step.ndim == 0:
        return step
    return step[jnp.asarray(group_index(w.shape[-1], step.shape[0]))]


def side_scalars(kind: str, components: int = 3) -> int:
    """Side-information scalars per tensor: step, prior scale (and the spike's logit); for a
    mixture, the step and each component's center, scale and mixing logit."""
    if kind == "mixture":
        return 1 + 3 * components
    return 3 if kind.startswith("spike") else 2


def quantizer(
    select: Selection = None,
    *,
    prior: str = "spike_laplace",
    relaxation: str = "ste",
    init_bits_per_std: float = 4.0,
    mixture_components: int = 3,
    step_groups: int = 1,
    power_of_two_steps: bool = False,
    live_block: bool = False,
) -> Compressor:
    r"""Quantize the selected leaves with learned steps and a learned discretized prior.

    A weight is stored as an integer bin $k = \operatorname{round}(w / s)$ with learned step
    $s$; its code length is $-\log_2 P(k)$ bits under the discretized prior $P$ (for the
    spike priors, $P(0) = \pi + (1 - \pi) Q(0)$), so ``bits`` is
    $\sum_j -\log_2 P(k_j)$ plus 32 bits per learned scalar (steps, prior parameters): the
    length of ``finalize``'s file less its fixed header.

    Args:
      select: which leaves (regex on the path, predicate, or None for all ``ndim >= 2``);
        the others are kept at float32 and charged 32 bits per scalar.
      prior: ``"laplace"``, ``"logistic"``, ``"spike_laplace"``, ``"spike_logistic"`` or
        ``"mixture"`` (``PRIORS``).
      relaxation: ``"ste"`` (straight-through rounding) or ``"noise"`` (additive uniform).
      init_bits_per_std: initial step is ``std(w) / init_bits_per_std``.
      step_groups: a learned step per tensor (1) or per each of this many contiguous groups of
        the last axis (output units; at most its size); the bins of all groups share the prior
        and one stream, and each extra step costs 32 bits.
      power_of_two_steps: round every learned step to the nearest power of two (gradients
        straight through), so the hard weights are dyadic rationals $k 2^{-e}$: a weight the
        network needs at exactly 1 (a counter's self-connection) can be exactly 1, and sums of
        such weights stay exact in float32 up to $2^{24}$ steps.
      live_block: code every selected kernel (two or more axes, ``[..., m, n]``) as its live
        block (`mdl.codec.leaves.LiveBlockLeaf`): flags of the input units (rows) and output
        units (columns) holding any nonzero bin, i.i.d. Bernoulli at their live fractions, then
        only the bins where a live row meets a live column, under the prior; a dead unit costs
        one flag instead of a zero bin per weight. The rate is the same code (the prior's spike
        then prices the zeros inside the block). Tensors with fewer axes are coded as without.
      mixture_components: components of the ``"mixture"`` prior (soft weight-sharing: a
        learned mixture of discretized Gaussians, Ullrich, Meeds, Welling, "Soft weight-sharing
        for neural network compression", ICLR 2017), the first centered at zero.

    Returns:
      A `Compressor` (``init / apply / hard / bits / finalize / advance / labels``).

    References:
      K. Ullrich, E. Meeds, M. Welling, "Soft weight-sharing for neural network compression",
      ICLR 2017; Y. Bengio, N. Leonard, A. Courville, "Estimating or propagating gradients
      through stochastic neurons", 2013 (the straight-through estimator).
    """
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}; got {prior!r}")
    if relaxation not in ("ste", "noise"):
        raise ValueError(f"relaxation must be 'ste' or 'noise'; got {relaxation!r}")
    if prior == "mixture" and not (isinstance(mixture_components, int) and mixture_components >= 2):
        raise ValueError(f"mixture_components must be an integer >= 2; got {mixture_components}")
    if not isinstance(step_groups, int) or step_groups < 1:
        raise ValueError(f"step_groups must be a positive integer; got {step_groups}")
    if not init_bits_per_std > 0:
        raise ValueError(f"init_bits_per_std must be > 0; got {init_bits_per_std}")
    if not isinstance(power_of_two_steps, bool):
        raise ValueError(f"power_of_two_steps must be a bool; got {power_of_two_steps!r}")
    if not isinstance(live_block, bool):
        raise ValueError(f"live_block must be a bool; got {live_block!r}")

    def steps_of(state, w):
        return _channel_steps(state, w, power_of_two_steps)

    def init(path, w):
        w = np.asarray(w, dtype=np.float64)
        spread = _spread(w)
        step = spread / init_bits_per_std
        log_step = jnp.float32(math.log(step))
        if step_groups > 1:
            if w.ndim < 1 or w.shape[-1] < step_groups:
                raise ValueError(
                    f"leaf {path!r} of shape {w.shape} has fewer than "
                    f"step_groups={step_groups} units"
                )
            spreads = [_spread(w[..., a:b]) for a, b in group_bounds(w.shape[-1], step_groups)]
            log_step = jnp.log(jnp.asarray(spreads, jnp.float32) / init_bits_per_std)
        # Start the prior at the Laplace maximum-likelihood scale of the initial bins, so no bin
        # starts far out in a tail (where the coder's 2^-24 floor would make the file cheaper
        # than the estimate).
        scale = float(np.mean(np.abs(np.round(w / step)))) + 0.5
        log_scale = jnp.float32(math.log(max(scale - MIN_PRIOR_SCALE, 1e-3)))
        state = QuantState(log_step=log_step, log_scale=log_scale, spike_logit=jnp.float32(0.0))
        if prior == "mixture":
            # Centers at 0, +-2 scale, +-4 scale, ...; the zero component starts heaviest.
            m = mixture_components
            offsets = [0.0] + [2.0 * ((i + 1) // 2) * (-1) ** i for i in range(m - 1)]
            state = state._replace(
                log_scale=jnp.full((m,), log_scale, jnp.float32),
                mixture_loc=jnp.asarray(offsets, jnp.float32) * scale,
                mixture_logits=jnp.asarray([1.0] + [0.0] * (m - 1), jnp.float32),
            )
        return state

    @jax.jit
    def hard(w, state):
        return _quantized(w, steps_of(state, w))

    def relaxed(w, state, key):
        step = steps_of(state, w)
        if relaxation == "ste":
            return _ste_quantize(w, step)
        x = _bins(w, step)
        return (x + jax.random.uniform(key, x.shape, x.dtype, -0.5, 0.5)) * step

    def bits(w, state):
        step = steps_of(state, w)
        mask, coded, flag_bits = None, None, 0.0
        if live_block and w.ndim >= 2:
            mask, coded, flag_bits = _live_block(w, step)
        if prior.endswith("laplace"):
            rate = _laplace_rate_sum_bits(prior, state, w, step, coded)
        else:
            per_bin = _make_prior(prior, state).bits(_round_ste(_bins(w, step)))
            rate = (per_bin if mask is None else jnp.where(mask, per_bin, 0.0)).sum()
        side = side_scalars(prior, mixture_components) + np.size(state.log_step) - 1
        return rate + flag_bits + FLOAT32_BITS * side

    def finalize(w, state):
        # The bins are read off hard()'s own output (the same compiled program): computing
        # round(w / step) again, op by op, rounded a weight at an exact half bin the other way
        # (XLA may rewrite w * (1 / step) inside a fused program). hard = k * step is a
        # float32 product of an integer and the step, so k = rint(hard / step) in float64 is
        # exact, and the decoder's k * step gives back hard's bits.
        w32 = jnp.asarray(w, jnp.float32)
        step = np.asarray(steps_of(state, w32), np.float64)
        weights = np.asarray(hard(w32, state), np.float64)
        symbols = np.rint(weights / step).astype(np.int64)
        prior_obj = jax.tree.map(lambda v: np.float32(v), _make_prior(prior, state))
        log_step = jnp.asarray(state.log_step, jnp.float32)
        steps = np.asarray(step_values(log_step, power_of_two_steps), np.float32)
        if live_block and symbols.ndim >= 2:
            return LiveBlockLeaf(symbols, steps.reshape(-1), prior_obj)
        if steps.ndim == 0:
            return QuantizedLeaf(symbols, np.float32(steps), prior_obj)
        return GroupedLeaf(symbols, steps, (prior_obj,) * steps.size)

    return leafwise(select, init=init, relaxed=relaxed, hard=hard, bits=bits, finalize=finalize)
