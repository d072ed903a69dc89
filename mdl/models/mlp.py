"""Multilayer perceptrons, including LeNet-300-100."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    r"""Fully connected network ``sizes[0] -> ... -> sizes[-1]``; inputs are flattened first.

    With ``pool > 1`` and ``image_shape = (H, W)``, each input image (given as ``[..., H, W]``
    or flattened ``[..., H * W]``) is first average-pooled over ``pool x pool`` blocks, a fixed
    (parameter-free) downsampling, so ``sizes[0] = (H / pool) * (W / pool)``: fewer weights to
    describe for the same architecture family.

    Parameter count: ``sum_i (sizes[i] + 1) * sizes[i + 1]``.

    Layer $i$ computes $h_{i+1} = \phi(W_i h_i + b_i)$, with no activation after the last
    layer (the output is logits). At 32 bits a parameter, the uncompressed description is
    $32 \sum_i (s_i + 1) s_{i+1}$ bits.

    Args:
      sizes: the layer widths, at least two positive integers (inputs first).
      activation: $\phi$, applied between layers (default ReLU).
      pool: average-pooling block side (1: none).
      image_shape: ``(H, W)``, required when ``pool > 1``.
      rngs: the initializers' random streams.

    References:
      D. E. Rumelhart, G. E. Hinton, R. J. Williams, "Learning representations by
      back-propagating errors", Nature, 1986.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        pool: int = 1,
        image_shape: tuple[int, int] | None = None,
        rngs: nnx.Rngs,
    ):
        sizes = list(sizes)
        if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"sizes must be at least two positive integers; got {sizes}")
        if not isinstance(pool, int) or pool < 1:
            raise ValueError(f"pool must be a positive integer; got {pool}")
        if pool > 1:
            if image_shape is None or len(image_shape) != 2:
                raise ValueError("pool > 1 needs image_shape=(height, width)")
            height, width = image_shape
            if height % pool or width % pool or (height // pool) * (width // pool) != sizes[0]:
                raise ValueError(
                    f"image_shape {image_shape} pooled by {pool} must divide evenly and give "
                    f"sizes[0] = {sizes[0]} inputs"
                )
        self.pool = pool
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.sizes = tuple(sizes)
        self.activation = activation
        self.layers = nnx.List(
            [nnx.Linear(m, n, rngs=rngs) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.pool > 1:
            x = self._pooled(x)
        h = jnp.reshape(x, (*x.shape[: x.ndim - self._input_dims(x)], self.sizes[0]))
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = self.activation(h)
        return h

    def _pooled(self, x: jax.Array) -> jax.Array:
        height, width = self.image_shape
        p = self.pool
        dims = 1 if x.shape[-1] == height * width and x.shape[-2:] != (height, width) else 2
        batch = x.shape[: x.ndim - dims]
        blocks = jnp.reshape(x, (*batch, height // p, p, width // p, p))
        return jnp.mean(blocks, axis=(-3, -1)).reshape(*batch, self.sizes[0])

    def _input_dims(self, x: jax.Array) -> int:
        # Flatten the trailing axes whose product is the input width (images [..., 28, 28]).
        size = 1
        for k in range(1, x.ndim + 1):
            size *= x.shape[-k]
            if size == self.sizes[0]:
                return k
        raise ValueError(
            f"input of shape {x.shape} has no trailing axes of total size {self.sizes[0]}"
        )


def lenet_300_100(*, rngs: nnx.Rngs | None = None, seed: int = 0) -> MLP:
    """LeNet-300-100 (LeCun et al. 1998): 784-300-100-10, ReLU, 266,610 parameters.

    The fully connected MNIST network on which Han et al. (Deep Compression, 2016) and Ullrich
    et al. (soft weight-sharing, 2017) quote their compression ratios. Uncompressed, at 32 bits
    a parameter: 8,531,520 bits.

    Args:
      rngs: the initializers' random streams (default ``nnx.Rngs(seed)``).
      seed: used when ``rngs`` is None.

    Returns:
      An `MLP` of sizes ``[784, 300, 100, 10]``.

    References:
      Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
      document recognition", Proceedings of the IEEE, 1998.
    """
    return MLP([784, 300, 100, 10], rngs=rngs or nnx.Rngs(seed))
