"""Seeded minibatches of fixed shape, as arrays: jit-, scan- and vmap-friendly."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def batches(key: jax.Array, x, y, batch_size: int | None = None):
    """One epoch as stacked batches: ``(xb [B, batch, ...], yb [B, batch, ...])``.

    The examples are permuted with ``key`` and cut into ``B = n // batch_size`` batches of
    exactly ``batch_size``; the ``n mod batch_size`` examples left over by this permutation sit
    this epoch out (a fresh key reshuffles them in next time). Fixed shapes mean one compiled
    training step, and ``jax.lax.scan`` over the leading axis runs the epoch inside ``jit``.
    ``batch_size=None`` gives the full batch, ``B = 1`` (no shuffle). Pure JAX: the caller may
    ``jit`` it with ``batch_size`` static, or ``vmap`` it over keys for many seeds at once.

    Args:
      key: a PRNG key for the permutation (unused when ``batch_size`` is None).
      x: inputs ``[n, ...]``.
      y: targets ``[n, ...]``.
      batch_size: an integer in ``[1, n]``, or None for one full batch.

    Returns:
      ``(xb, yb)`` of shapes ``[n // batch_size, batch_size, ...]``.

    Raises:
      ValueError: when ``x`` and ``y`` differ in length or ``batch_size`` is out of range.
    """
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x has {n} examples but y has {y.shape[0]}")
    if batch_size is None:
        return jnp.asarray(x)[None], jnp.asarray(y)[None]
    if not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(
            f"batch_size must be an integer in [1, {n}] (the number of examples); "
            f"got {batch_size!r}"
        )
    count = n // batch_size
    order = jax.random.permutation(key, n)[: count * batch_size]
    xb = jnp.take(jnp.asarray(x), order, axis=0)
    yb = jnp.take(jnp.asarray(y), order, axis=0)
    return xb.reshape(count, batch_size, *x.shape[1:]), yb.reshape(count, batch_size, *y.shape[1:])
