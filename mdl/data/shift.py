"""Random translations of images: the data augmentation a code can afford.

A prequential code may train its chunk models on shifted copies of the images it has seen:
the shifts come from the chunk model's key, so the decoder draws the same ones and retrains
the same model. On MNIST a shift of a pixel or two is the classic invariance (LeCun et al.,
"Gradient-based learning applied to document recognition", 1998; Simard et al., "Best
practices for convolutional neural networks applied to visual document analysis", 2003):
a model trained on few labels predicts the next ones better, so they cost fewer bits.
"""

from __future__ import annotations

import math
from numbers import Integral

import jax
import jax.numpy as jnp


def image_side(features: int) -> int:
    """The side of a square one-channel image of ``features`` pixels, for flat inputs.

    Raises:
      ValueError: when ``features`` is not a perfect square.
    """
    side = math.isqrt(features)
    if side * side != features:
        raise ValueError(
            f"flat inputs of {features} features are not a square image; give images "
            "[n, height, width] or [n, height, width, channels] to shift them"
        )
    return side


def check_shift(max_shift: int, shape: tuple[int, ...]) -> None:
    """Raise a ValueError unless ``max_shift`` pixels can shift examples of ``shape``
    (without the batch axis): flat square images, ``[H, W]`` or ``[H, W, C]``."""
    if isinstance(max_shift, bool) or not isinstance(max_shift, Integral) or max_shift < 0:
        raise ValueError(f"max_shift must be an integer >= 0; got {max_shift!r}")
    if max_shift == 0:
        return
    if len(shape) == 1:
        height = width = image_side(shape[0])
    elif len(shape) in (2, 3):
        height, width = shape[:2]
    else:
        raise ValueError(f"can shift flat square images, [H, W] or [H, W, C]; got shape {shape}")
    if max_shift >= min(height, width):
        raise ValueError(
            f"max_shift must be below the image side ({min(height, width)}); got {max_shift}"
        )


def random_shift(key: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
    r"""Each image translated by its own offset $(d_h, d_w)$, drawn uniformly from
    $\{-m, \ldots, m\}^2$ with $m$ = ``max_shift``; the pixels shifted in repeat the border
    (edge padding: the background of a digit, whatever the data's normalization).

    Pure JAX and of fixed shape, so it runs inside ``jit``, ``scan`` and ``vmap``.

    Args:
      key: a PRNG key; the same key gives the same shifts.
      images: ``[n, d]`` (flat square one-channel images), ``[n, H, W]`` or ``[n, H, W, C]``.
      max_shift: $m \ge 0$ (0 returns ``images``), below the image side.

    Returns:
      The shifted images, in the shape and dtype of ``images``.

    Raises:
      ValueError: for a bad ``max_shift`` or a shape that is not an image (`check_shift`).
    """
    check_shift(max_shift, tuple(images.shape[1:]))
    if max_shift == 0:
        return images
    flat = images.ndim == 2
    if flat:
        side = image_side(images.shape[1])
        images = jnp.reshape(images, (images.shape[0], side, side))
    m = max_shift
    pad = [(0, 0), (m, m), (m, m)] + [(0, 0)] * (images.ndim - 3)
    padded = jnp.pad(images, pad, mode="edge")
    offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * m + 1)
    size = images.shape[1:]

    def crop(image, offset):
        start = (offset[0], offset[1]) + (0,) * (image.ndim - 2)
        return jax.lax.dynamic_slice(image, start, size)

    shifted = jax.vmap(crop)(padded, offsets)
    return jnp.reshape(shifted, (shifted.shape[0], -1)) if flat else shifted
