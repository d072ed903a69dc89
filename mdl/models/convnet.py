"""Small convolutional networks: few parameters, so short descriptions, for bounds and codes."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx


class ConvNet(nnx.Module):
    """``[avg-pool] -> (conv kxk, ReLU, max-pool 2) x len(channels) -> [global mean] -> dense``.

    A convolution shares its few weights over every position, so a convnet describes an image
    classifier in far fewer parameters than an MLP of the same accuracy: the currency of a
    two-part code or an Occam bound. Convolutions use SAME padding; each max-pool halves the
    side (floor). ``input_pool > 1`` first average-pools the image (parameter-free).
    ``global_pool=True`` averages the last feature map over positions before the dense layer
    (``channels[-1] * num_classes`` weights) instead of flattening it.

    Input: ``[n, H, W]``, ``[n, H, W, C]`` or flattened ``[n, H * W * C]`` with
    ``image_shape = (H, W)`` or ``(H, W, C)``.

    Output: logits ``[n, num_classes]``. Parameters: $(k^2 c_{i-1} + 1) c_i$ per convolution
    ($c_0$ the input channels) plus $(F + 1)$ times ``num_classes`` for the dense layer, $F$
    its input features.

    Args:
      channels: the output channels of each convolution.
      image_shape: ``(H, W)`` or ``(H, W, C)``.
      num_classes: the output width, at least 2.
      kernel_size: $k$, the convolutions' side.
      input_pool: average-pooling block side before the first convolution (1: none).
      global_pool: average the last feature map over positions instead of flattening it.
      rngs: the initializers' random streams.

    References:
      Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
      document recognition", Proceedings of the IEEE, 1998 (convolutional networks).
    """

    def __init__(
        self,
        channels: Sequence[int] = (8, 16),
        *,
        image_shape: tuple[int, ...] = (28, 28),
        num_classes: int = 10,
        kernel_size: int = 3,
        input_pool: int = 1,
        global_pool: bool = False,
        rngs: nnx.Rngs,
    ):
        channels = [int(c) for c in channels]
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f"channels must be one or more positive integers; got {channels}")
        if len(image_shape) not in (2, 3) or any(int(s) < 1 for s in image_shape):
            raise ValueError(f"image_shape must be (H, W) or (H, W, C); got {image_shape}")
        if kernel_size < 1 or input_pool < 1 or num_classes < 2:
            raise ValueError(
                "need kernel_size >= 1, input_pool >= 1 and num_classes >= 2; got "
                f"{kernel_size}, {input_pool}, {num_classes}"
            )
        height, width = int(image_shape[0]), int(image_shape[1])
        in_channels = int(image_shape[2]) if len(image_shape) == 3 else 1
        if height % input_pool or width % input_pool:
            raise ValueError(f"input_pool {input_pool} must divide image_shape {image_shape}")
        height, width = height // input_pool, width // input_pool
        convs = []
        for out_channels in channels:
            convs.append(nnx.Conv(in_channels, out_channels, (kernel_size, kernel_size), rngs=rngs))
            in_channels, height, width = out_channels, height // 2, width // 2
            if height < 1 or width < 1:
                raise ValueError(
                    f"{len(channels)} max-pools shrink image_shape {image_shape} "
                    f"(pooled by {input_pool}) below one pixel"
                )
        features = in_channels if global_pool else in_channels * height * width
        self.image_shape = tuple(int(s) for s in image_shape)
        self.channels = tuple(channels)
        self.kernel_size = kernel_size
        self.input_pool = input_pool
        self.global_pool = global_pool
        self.num_classes = num_classes
        self.convs = nnx.List(convs)
        self.head = nnx.Linear(features, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.layer_outputs(x)[-1]

    def layer_outputs(self, x: jax.Array) -> list[jax.Array]:
        """Every layer's output on ``x``, each flattened to ``[n, features]``: the (pooled)
        input, each convolution block (after ReLU and max-pool), and the logits (what
        `mdl.probe` probes)."""
        height, width = self.image_shape[:2]
        in_channels = self.image_shape[2] if len(self.image_shape) == 3 else 1
        pixels = height * width * in_channels
        if x.shape[-1] == pixels and x.shape[-3:] != (height, width, in_channels):
            x = jnp.reshape(x, (*x.shape[:-1], height, width, in_channels))
        elif x.shape[-2:] == (height, width):
            x = x[..., None]
        if x.shape[-3:] != (height, width, in_channels):
            raise ValueError(
                f"ConvNet expects images of shape {self.image_shape} (or flattened); got {x.shape}"
            )
        p = self.input_pool
        if p > 1:
            x = nnx.avg_pool(x, window_shape=(p, p), strides=(p, p))
        outputs = [jnp.reshape(x, (*x.shape[:-3], -1))]
        for conv in self.convs:
            x = nnx.max_pool(jax.nn.relu(conv(x)), window_shape=(2, 2), strides=(2, 2))
            outputs.append(jnp.reshape(x, (*x.shape[:-3], -1)))
        # the head reads the last block's features, already flattened above
        x = jnp.mean(x, axis=(-3, -2)) if self.global_pool else outputs[-1]
        outputs.append(self.head(x))
        return outputs
