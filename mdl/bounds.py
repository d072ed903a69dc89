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
    r"""The KL divergence between Bernoulli($q$) and Bernoulli($p$), in bits.

    $\mathrm{kl}(q \,\|\, p) = q \log_2 \frac{q}{p} + (1 - q) \log_2 \frac{1 - q}{1 - p}$,
    written as $-q \operatorname{log1p}(d/q) - (1-q) \operatorname{log1p}(-d/(1-q))$ (over
    $\ln 2$) with $d = p - q$: near $p = q$ the two first-order terms cancel exactly, leaving
    the $d^2$ term accurate to working precision relative to itself (the naive form loses it
    in float32 below $d \approx 10^{-3}$).

    Args:
      q: the first Bernoulli parameter, in $[0, 1]$.
      p: the second, in $[0, 1]$ (broadcast with ``q``).

    Returns:
      Bits, the broadcast shape.

    References:
      J. Langford, "Tutorial on practical prediction theory for classification", JMLR, 2005.
    """
    dtype = jnp.result_type(float)
    q, p = jnp.asarray(q, dtype), jnp.asarray(p, dtype)
    d = p - q
    safe_q = jnp.where(q > 0, q, 1.0)
    safe_r = jnp.where(q < 1, 1 - q, 1.0)
    nats = _weighted_log1p(q, d / safe_q) + _weighted_log1p(1 - q, -d / safe_r)
    return jnp.maximum(nats, 0.0) / _LN2


def kl_inverse(q, c) -> jax.Array:
    r"""The inverse of the binary KL divergence: the largest $p \in [q, 1]$ with
    $\mathrm{kl}(q \,\|\, p) \le c$, $c$ in bits, by bisection.

    $\mathrm{kl}(q \,\|\, \cdot)$ increases on $[q, 1]$ from 0 to infinity (for $q < 1$), so
    the inverse exists and is unique; 100 bisection steps reach machine precision in float32
    and float64.

    Args:
      q: an error rate in $[0, 1]$.
      c: a budget in bits, $\ge 0$ (broadcast with ``q``).

    Returns:
      The error rate $p$ (a fraction), the broadcast shape.

    References:
      J. Langford, "Tutorial on practical prediction theory for classification", JMLR, 2005.
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
    r"""Occam bound, kl form: an upper bound on the true error of a hypothesis described in
    ``code_bits`` bits.

    With probability $\ge 1 - \delta$ over $m$ i.i.d. examples, every hypothesis $h$ of a
    prefix code fixed before the data, with training error $q$ and code length $L$ bits, has
    true error $p \le \mathrm{kl}^{-1}\big(q,\ (L + \log_2(1/\delta)) / m\big)$
    (`kl_inverse`).

    Args:
      train_error: the training error $q$, a fraction.
      code_bits: the hypothesis's code length $L$ in bits.
      m: the number of training examples.
      delta: the confidence parameter, in $(0, 1)$.

    Returns:
      The bound on the true error (a fraction).

    References:
      J. Langford, "Tutorial on practical prediction theory for classification", JMLR, 2005,
      Thm. 4.1.
    """
    _validate(train_error, code_bits, m, delta)
    return kl_inverse(train_error, _complexity_nats(code_bits, delta, m) / _LN2)


def occam_bound_hoeffding(train_error, code_bits, m, delta) -> jax.Array:
    r"""Occam bound, Hoeffding form: looser than `occam_bound`, in closed form.

    $p \le \min\!\Big(1,\ q + \sqrt{(L \ln 2 + \ln(1/\delta)) / (2m)}\Big)$ for a
    hypothesis of $L$ bits (``code_bits``) with training error $q$ on $m$ examples, with
    probability $\ge 1 - \delta$. Arguments and result (a fraction) as in `occam_bound`.

    References:
      A. Blumer, A. Ehrenfeucht, D. Haussler, M. K. Warmuth, "Occam's razor", Information
      Processing Letters, 1987.
    """
    _validate(train_error, code_bits, m, delta)
    slack = jnp.sqrt(_complexity_nats(code_bits, delta, m) / 2)
    return jnp.minimum(jnp.asarray(train_error) + slack, 1.0)


def _pac_bayes_nats(kl_bits, m, delta):
    m = jnp.asarray(m, dtype=jnp.result_type(float))
    return (jnp.asarray(kl_bits) * _LN2 + jnp.log(2 * jnp.sqrt(m) / jnp.asarray(delta))) / m


def mcallester_bound(train_error, kl_bits, m, delta) -> jax.Array:
    r"""PAC-Bayes bound of McAllester (with Maurer's constant) on a Gibbs classifier's error.

    With probability $\ge 1 - \delta$, for every posterior $Q$, the expected error of the Gibbs
    classifier is $p \le \min\!\Big(1,\ q + \sqrt{(\mathrm{KL} \ln 2 + \ln(2\sqrt{m}/\delta))
    / (2m)}\Big)$, with $\mathrm{KL} = \mathrm{KL}(Q \,\|\, P)$ in bits and $q$ the expected
    training error.

    Args:
      train_error: $q$, the Gibbs classifier's expected training error.
      kl_bits: $\mathrm{KL}(Q \,\|\, P)$ in bits, $P$ a prior fixed before the data.
      m: the number of training examples.
      delta: the confidence parameter, in $(0, 1)$.

    Returns:
      The bound on the expected true error (a fraction).

    References:
      D. McAllester, "PAC-Bayesian model averaging", COLT 1999; A. Maurer, "A note on the PAC
      Bayesian theorem", 2004.
    """
    _validate(train_error, kl_bits, m, delta, "kl_bits")
    return jnp.minimum(
        jnp.asarray(train_error) + jnp.sqrt(_pac_bayes_nats(kl_bits, m, delta) / 2), 1.0
    )


def maurer_bound(train_error, kl_bits, m, delta) -> jax.Array:
    r"""PAC-Bayes-kl bound (Maurer, Seeger) on a Gibbs classifier's error.

    With probability $\ge 1 - \delta$, for every posterior $Q$:
    $\mathrm{kl}(q \,\|\, p) \le (\mathrm{KL}(Q \,\|\, P) + \log_2(2\sqrt{m}/\delta)) / m$
    in bits, returned inverted: $p \le \mathrm{kl}^{-1}(q, \cdot)$ (`kl_inverse`).
    Arguments and result (a fraction) as in `mcallester_bound`.

    References:
      A. Maurer, "A note on the PAC Bayesian theorem", 2004; M. Seeger, "PAC-Bayesian
      generalisation error bounds for Gaussian process classification", JMLR, 2002.
    """
    _validate(train_error, kl_bits, m, delta, "kl_bits")
    return kl_inverse(train_error, _pac_bayes_nats(kl_bits, m, delta) / _LN2)


def catoni_bound(train_error, kl_bits, m, delta, c_grid=None) -> jax.Array:
    r"""Catoni's PAC-Bayes bound on a Gibbs classifier's error, minimized over a grid of $C$.

    $p \le \dfrac{1 - \exp\!\big(-C q - (\mathrm{KL} \ln 2 + \ln(G/\delta)) / m\big)}
    {1 - \exp(-C)}$, minimized over the $G$ values of $C$ in ``c_grid`` (default
    $2^{-3}, \ldots, 2^{6}$, 10 values) with a union bound: each $C$ is checked at
    $\delta / G$. $\mathrm{KL}$ in bits.

    Args:
      train_error: $q$, the Gibbs classifier's expected training error.
      kl_bits: $\mathrm{KL}(Q \,\|\, P)$ in bits, $P$ a prior fixed before the data.
      m: the number of training examples.
      delta: the confidence parameter, in $(0, 1)$.
      c_grid: positive values of $C$, a 1-D array.

    Returns:
      The bound on the expected true error (a fraction), capped at 1.

    References:
      O. Catoni, *PAC-Bayesian supervised classification*, IMS Lecture Notes, 2007,
      Thm. 1.2.6.
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
    r"""Bits to name one of ``grid_size`` hyperparameter settings chosen after looking at the data.

    $L = \log_2 G$ for a grid of $G$ settings. Add them to the code length before computing a
    bound (a union bound over the grid).

    Args:
      grid_size: $G \ge 1$.

    Returns:
      Bits (a Python float).

    References:
      J. Langford, "Tutorial on practical prediction theory for classification", JMLR, 2005.
    """
    if not isinstance(grid_size, int) or grid_size < 1:
        raise ValueError(f"grid_size must be a positive integer; got {grid_size!r}")
    return math.log2(grid_size)


def chosen_index_bits(index) -> jax.Array:
    r"""Bits to name the chosen index $i = 0, 1, 2, \ldots$ of an unbounded search.

    $L = \log_2 c + \log^*(i + 1)$, Rissanen's universal code (`mdl.codes.log_star_bits`):
    small indices are cheap, none is forbidden.

    Args:
      index: integers $\ge 0$, any shape.

    Returns:
      Bits, the shape of ``index``.

    References:
      J. Rissanen, "A universal prior for integers and estimation by minimum description
      length", Annals of Statistics, 1983.
    """
    return log_star_bits(jnp.asarray(index) + 1)


def code_length_bound(train_bits_per_example, max_bits, code_bits, m, delta) -> jax.Array:
    r"""Bound on the expected test code length, in bits per example, of a model described in
    ``code_bits`` bits, for per-example code lengths in $[0, B]$.

    Rescaled to $[0, 1]$, a bounded loss concentrates at least as fast as a Bernoulli one, so
    the Occam kl bound applies to its mean:
    $B\, \mathrm{kl}^{-1}\big(\bar L_{\text{train}} / B,\ (L + \log_2(1/\delta)) / m\big)$.
    Clip per-example lengths (e.g. mix the model with a uniform code) to make $B$ finite.

    Args:
      train_bits_per_example: $\bar L_{\text{train}}$, the mean training code length in bits.
      max_bits: $B > 0$, the largest per-example code length.
      code_bits: the model's code length $L$ in bits.
      m: the number of training examples.
      delta: the confidence parameter, in $(0, 1)$.

    Returns:
      The bound on the expected test code length, in bits per example.

    References:
      A. Maurer, "A note on the PAC Bayesian theorem", 2004, Lemma 3.
    """
    values = concrete(max_bits)
    if values is not None and (values <= 0).any():
        raise ValueError(f"max_bits must be > 0; got {max_bits!r}")
    train = jnp.asarray(train_bits_per_example)
    scaled = train / jnp.asarray(max_bits)
    _validate(scaled, code_bits, m, delta)
    return jnp.asarray(max_bits) * occam_bound(scaled, code_bits, m, delta)
