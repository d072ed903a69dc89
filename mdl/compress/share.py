"""Weight sharing after training: k-means clustering of each tensor's weights (Han, Mao,
Dally, "Deep compression", ICLR 2016).

Each selected tensor is described by ``K`` centroids (float32) and, per weight, the index of
its centroid, coded with the indices' empirical frequencies: ``sum_j -log2 f(c_j)`` bits (the
tensor's entropy), plus 32 bits per centroid and 32 per stored frequency. Centroids start from
Lloyd's iterations on quantile-initialized centers and stay learnable (the assignment is held
fixed inside a step, so fine-tuning moves the shared values, as in Deep Compression). Soft
weight-sharing during training is ``quantizer(prior="mixture")``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mdl.codec.model import CodebookLeaf
from mdl.compress.base import FLOAT32_BITS, Compressor, Selection, leafwise


class CodebookState(NamedTuple):
    centroids: jax.Array  # [K]


def kmeans_centroids(values: np.ndarray, clusters: int, iterations: int = 30) -> np.ndarray:
    """1-D k-means (Lloyd) from quantile-spaced centers; deterministic, float32 ``[K]``."""
    values = np.asarray(values, np.float64).reshape(-1)
    centers = np.quantile(values, (np.arange(clusters) + 0.5) / clusters)
    for _ in range(iterations):
        assignment = np.argmin(np.abs(values[:, None] - centers[None, :]), axis=1)
        for c in range(clusters):
            members = values[assignment == c]
            if members.size:
                centers[c] = members.mean()
    return np.asarray(centers, np.float32)


def kmeans(select: Selection = None, *, clusters: int = 16) -> Compressor:
    r"""Cluster every selected tensor's weights into ``clusters`` shared values (module doc).

    Each weight becomes its nearest centroid $c_j$; ``bits`` is, per selected tensor,
    $-\sum_{i=1}^{K} n_i \log_2 (n_i / N) + 64 K$ bits: the $N$ indices under their empirical
    frequencies ($n_i$ weights at centroid $i$; unused centroids cost no index bits) plus 32
    bits per centroid and 32 per stored count, for $K$ = ``clusters``. Unselected leaves cost
    32 bits per scalar. Training runs with the shared values, so gradients reach the
    centroids.

    Args:
      select: which leaves (regex, predicate, or None for ``ndim >= 2``).
      clusters: $K$, an integer in $[2, 65536]$.

    Returns:
      A `Compressor` whose ``finalize`` writes ``CodebookLeaf`` leaves.

    References:
      S. Han, H. Mao, W. J. Dally, "Deep compression: compressing deep neural networks with
      pruning, trained quantization and Huffman coding", ICLR 2016.
    """
    if not isinstance(clusters, int) or not 2 <= clusters <= 1 << 16:
        raise ValueError(f"clusters must be an integer in [2, 65536]; got {clusters}")

    def init(path, w):
        return CodebookState(jnp.asarray(kmeans_centroids(w, clusters)))

    def assignment(w, centroids):
        return jnp.argmin(jnp.abs(w[..., None] - jax.lax.stop_gradient(centroids)), axis=-1)

    def hard(w, state):
        return state.centroids[assignment(w, state.centroids)]

    def bits(w, state):
        counts = jnp.bincount(assignment(w, state.centroids).reshape(-1), length=clusters)
        counts = counts.astype(jnp.float32)
        used = counts > 0
        freqs = counts / np.size(w)
        entropy = -jnp.sum(jnp.where(used, counts * jnp.log2(jnp.where(used, freqs, 1.0)), 0.0))
        return entropy + 2 * FLOAT32_BITS * clusters

    def finalize(w, state):
        centroids = np.asarray(state.centroids, np.float32)
        index = np.asarray(assignment(jnp.asarray(w), jnp.asarray(centroids))).astype(np.int64)
        return CodebookLeaf(index, centroids)

    # Training runs with the shared values (relaxed = hard): gradients reach the centroids.
    return leafwise(select, init=init, relaxed=None, hard=hard, bits=bits, finalize=finalize)


__all__ = ["CodebookState", "kmeans", "kmeans_centroids"]
