"""Generalization bounds from code length: a short description of a hypothesis bounds its error.

If hypotheses are described by a prefix-free code, ``2^-L(h)`` is a prior (Kraft), and a union
bound weighted by it turns any per-hypothesis concentration inequality into one that holds for
*all* hypotheses at once. The hypothesis chosen after looking at the data, described in ``L``
bits, then has true error ``p`` with probability at least ``1 - delta`` over the sample:

* Occam, kl form (Langford, "Tutorial on practical prediction theory for classification",
  2005; Blumer, Ehrenfeucht, Haussler, Warmuth, "Occam's razor", 1987):
  ``kl(q || p) <= (L ln 2 + ln(1/delta)) / m``, so ``p <= kl_inverse(q, .)``;
* Occam, Hoeffding form: ``p <= q + sqrt((L ln 2 + ln(1/delta)) / (2 m))`` (looser);
* PAC-Bayes for a stochastic (Gibbs) model ``Q`` with prior ``P``, ``KL(Q || P)`` in bits:
  McAllester (1999) in Maurer's form ``p <= q + sqrt((KL ln 2 + ln(2 sqrt(m)/delta)) / (2m))``,
  Maurer's kl form (2004) ``kl(q || p) <= (KL ln 2 + ln(2 sqrt(m)/delta)) / m``, and Catoni's
  (2007) ``p <= (1 - exp(-C q - (KL ln 2 + ln(1/delta)) / m)) / (1 - exp(-C))`` minimized over
  a grid of ``C`` with a union bound over the grid.

Units: code lengths and KL divergences in **bits**, as everywhere in mdl; `binary_kl_bits`
and `kl_inverse` measure the binary KL divergence in bits too. Errors are fractions.
All functions are jit-compatible (the bisection has a fixed number of steps); arguments are
validated eagerly when concrete.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from mdl.codes.integers import log_star_bits
from mdl.validation import concrete

_LN2 = math.log(2)
_BISECTION_STEPS = 100  # halves [q, 1] below float64 resolution


def _check_fraction(value, name: str, *, open_interval: bool = False) -> None:
    values = concrete(value)
    if values is None:
        return
    import numpy as np

    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite; got {value!r}")
    low_bad = values <= 0 if open_interval else values < 0
    high_bad = values >= 1 if open_interval else values > 1
    if np.any(low_bad) or np.any(high_bad):
        interval = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}; got {value!r}")


def _check_nonnegative(value, name: str) -> None:
    values = concrete(value)
    if values is not None and (not (values == values).all() or (values < 0).any()):
        raise ValueError(f"{name} must be >= 0 (bits); got {value!r}")


def _check_count(m) -> None:
    values = concrete(m)
    if values is not None and (values < 1).any():
        raise ValueError(f"m (the number of examples) must be >= 1; got {m!r}")


def _weighted_log1p(weight, ratio):
    """``-weight log1p(ratio)`` with ``0 log 0 = 0`` (``weight = 0`` contributes nothing)."""
    safe = jnp.where(weight > 0, ratio, 0.0)
    return jnp.where(weight > 0, -weight * jnp.log1p(safe), 0.0)


def binary_kl_bits(q, p) -> jax.Array:
    """``kl(q || p) = q log2(q/p) + (1-q) log2((1-q)/(1-p))``, the KL divergence between
    Bernoulli(q) and Bernoulli(p), in bits.

    Written as ``-q log1p(d/q) - (1-q) log1p(-d/(1-q))`` with ``d = p - q``: near ``p = q``
    the two first-order terms cancel exactly, leaving the ``d^2`` term accurate to working
    precision relative to itself (the naive form loses it in float32 below ``d ~ 1e-3``).
    """
    dtype = jnp.result_type(float)
    q, p = jnp.asarray(q, dtype), jnp.asarray(p, dtype)
    d = p - q
    safe_q = jnp.where(q > 0, q, 1.0)
    safe_r = jnp.where(q < 1, 1 - q, 1.0)
    nats = _weighted_log1p(q, d / safe_q) + _weighted_log1p(1 - q, -d / safe_r)
    return jnp.maximum(nats, 0.0) / _LN2


def kl_inverse(q, c) -> jax.Array:
    """The largest ``p in [q, 1]`` with ``kl(q || p) <= c`` (``c`` in bits), by bisection.

    ``kl(q || .)`` increases on ``[q, 1]`` from 0 to infinity (for ``q < 1``), so the inverse
    exists and is unique; 100 bisection steps reach machine precision in float32 and float64.
    """
    _check_fraction(q, "q")
    _check_nonnegative(c, "c")
    dtype = jnp.result_type(float)
    q, c = jnp.broadcast_arrays(jnp.asarray(q, dtype), jnp.asarray(c, dtype))
    return _kl_inverse_bisection(q, c)


@jax.jit  # compiled once per shape: an eager fori_loop would retrace on every call
def _kl_inverse_bisection(q, c):
    def step(_, interval):
        lo, hi = interval
        mid = 0.5 * (lo + hi)
        inside = binary_kl_bits(q, mid) <= c
        return jnp.where(inside, mid, lo), jnp.where(inside, hi, mid)

    lo, _ = jax.lax.fori_loop(0, _BISECTION_STEPS, step, (q, jnp.ones_like(q)))
    return lo


def _complexity_nats(code_bits, delta, m):
    return (jnp.asarray(code_bits) * _LN2 + jnp.log(1.0 / jnp.asarray(delta))) / jnp.asarray(m)


def _validate(train_error, code_bits, m, delta, bits_name: str = "code_bits") -> None:
    _check_fraction(train_error, "train_error")
    _check_nonnegative(code_bits, bits_name)
    _check_count(m)
    _check_fraction(delta, "delta", open_interval=True)


def occam_bound(train_error, code_bits, m, delta) -> jax.Array:
    """Occam bound, kl form: the true error of a hypothesis described in ``code_bits`` bits
    by a prefix code, with ``train_error`` on ``m`` i.i.d. examples, is at most the returned
    value with probability ``>= 1 - delta`` (Langford 2005, Thm. 4.1)."""
    _validate(train_error, code_bits, m, delta)
    return kl_inverse(train_error, _complexity_nats(code_bits, delta, m) / _LN2)


def occam_bound_hoeffding(train_error, code_bits, m, delta) -> jax.Array:
    """Occam bound, Hoeffding form: ``train_error + sqrt((L ln 2 + ln(1/delta)) / (2 m))``,
    capped at 1 (Blumer et al. 1987)."""
    _validate(train_error, code_bits, m, delta)
    slack = jnp.sqrt(_complexity_nats(code_bits, delta, m) / 2)
    return jnp.minimum(jnp.asarray(train_error) + slack, 1.0)


def _pac_bayes_nats(kl_bits, m, delta):
    m = jnp.asarray(m, dtype=jnp.result_type(float))
    return (jnp.asarray(kl_bits) * _LN2 + jnp.log(2 * jnp.sqrt(m) / jnp.asarray(delta))) / m


def mcallester_bound(train_error, kl_bits, m, delta) -> jax.Array:
    """PAC-Bayes (McAllester 1999, with Maurer's 2004 constant): expected error of the Gibbs
    classifier ``Q`` is at most ``q + sqrt((KL ln 2 + ln(2 sqrt(m) / delta)) / (2 m))``,
    capped at 1; ``kl_bits = KL(Q || P)`` in bits, ``q`` its expected training error."""
    _validate(train_error, kl_bits, m, delta, "kl_bits")
    return jnp.minimum(
        jnp.asarray(train_error) + jnp.sqrt(_pac_bayes_nats(kl_bits, m, delta) / 2), 1.0
    )


def maurer_bound(train_error, kl_bits, m, delta) -> jax.Array:
    """PAC-Bayes-kl (Maurer, "A note on the PAC Bayesian theorem", 2004; Seeger 2002):
    ``kl(q || p) <= (KL ln 2 + ln(2 sqrt(m) / delta)) / m``, inverted."""
    _validate(train_error, kl_bits, m, delta, "kl_bits")
    return kl_inverse(train_error, _pac_bayes_nats(kl_bits, m, delta) / _LN2)


def catoni_bound(train_error, kl_bits, m, delta, c_grid=None) -> jax.Array:
    """Catoni's PAC-Bayes bound (Catoni 2007, Thm. 1.2.6), minimized over ``C`` in ``c_grid``
    (default ``2^-3 .. 2^6``, 10 values) with a union bound: each ``C`` is checked at
    ``delta / len(c_grid)``.

    ``p <= (1 - exp(-C q - (KL ln 2 + ln(|grid| / delta)) / m)) / (1 - exp(-C))``.
    """
    _validate(train_error, kl_bits, m, delta, "kl_bits")
    grid = jnp.asarray(
        c_grid if c_grid is not None else 2.0 ** jnp.arange(-3, 7), dtype=jnp.result_type(float)
    )
    if grid.ndim != 1 or (concrete(grid) is not None and (concrete(grid) <= 0).any()):
        raise ValueError("c_grid must be a 1-D array of positive numbers")
    q = jnp.asarray(train_error)[..., None]
    complexity = _complexity_nats(kl_bits, jnp.asarray(delta) / grid.shape[0], m)[..., None]
    bounds = -jnp.expm1(-grid * q - complexity) / -jnp.expm1(-grid)
    return jnp.minimum(bounds.min(axis=-1), 1.0)


def grid_search_bits(grid_size: int) -> float:
    """Bits to name one of ``grid_size`` hyperparameter settings chosen after looking at the
    data: ``log2 grid_size``. Add them to the code length before computing a bound."""
    if not isinstance(grid_size, int) or grid_size < 1:
        raise ValueError(f"grid_size must be a positive integer; got {grid_size!r}")
    return math.log2(grid_size)


def chosen_index_bits(index) -> jax.Array:
    """Bits to name the chosen index ``0, 1, 2, ...`` of an unbounded search with Rissanen's
    universal code ``log* (index + 1)``: small indices are cheap, none is forbidden."""
    return log_star_bits(jnp.asarray(index) + 1)


def code_length_bound(train_bits_per_example, max_bits, code_bits, m, delta) -> jax.Array:
    """Bound on the expected test code length (bits per example) of a model described in
    ``code_bits`` bits, for per-example code lengths in ``[0, max_bits]``.

    Rescaled to [0, 1], a bounded loss concentrates at least as fast as a Bernoulli one
    (Maurer 2004, Lemma 3), so the Occam kl bound applies to its mean:
    ``max_bits * kl_inverse(train / max_bits, (L ln 2 + ln(1/delta)) / m)``. Clip per-example
    lengths (e.g. mix the model with a uniform code) to make ``max_bits`` finite.
    """
    values = concrete(max_bits)
    if values is not None and (values <= 0).any():
        raise ValueError(f"max_bits must be > 0; got {max_bits!r}")
    train = jnp.asarray(train_bits_per_example)
    scaled = train / jnp.asarray(max_bits)
    _validate(scaled, code_bits, m, delta)
    return jnp.asarray(max_bits) * occam_bound(scaled, code_bits, m, delta)
