"""The code length of a sparse tensor: which entries are kept, and their values.

A `SparseLeaf` file codes the nonzero pattern of ``n`` entries as
i.i.d. Bernoulli(``k / n``) flags, ``n h2(k / n)`` bits (within ``O(log n)`` of
``log2 C(n, k)``, the cost of naming one subset of size ``k``), then the ``k`` kept values at
float32, and the count ``k`` itself.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.scipy.special import xlogy


def sparse_leaf_bits(n, k):
    """Ideal bits of a sparse tensor with ``k`` of ``n`` entries kept, side information (the
    kept count, at most 32 bits) included: ``n h2(k / n) + 32 k + 32``. Differentiable in
    ``k`` (an expected count during training)."""
    # xlogy makes 0 log 0 = 0 (all kept or all pruned costs no flags, as in the file); the
    # clip keeps the gradient finite there (float32 cannot hold 1 - 1e-12).
    rate = jnp.clip(jnp.asarray(k, jnp.float32) / n, 0.0, 1.0)
    safe = jnp.clip(rate, 1e-6, 1 - 1e-6)
    entropy = -(xlogy(rate, safe) + xlogy(1 - rate, 1 - safe)) / math.log(2)
    return n * entropy + 32.0 * k + 32.0
