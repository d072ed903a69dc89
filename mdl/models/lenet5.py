"""LeNet-5 in the Caffe variant used by the model-compression literature."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


class LeNet5(nnx.Module):
    """conv 5x5x20 - maxpool 2 - conv 5x5x50 - maxpool 2 - fc 500 - ReLU - fc 10.

    Caffe's ``lenet_train_test.prototxt`` (no activation after the convolutions, valid
    padding): 520 + 25,050 + 400,500 + 5,010 = 431,080 parameters. Han et al. (2016) and
    Ullrich et al. (2017) compress this network. Input: ``[n, 28, 28]`` or ``[n, 28, 28, 1]``.

    Output: logits ``[n, num_classes]``. Uncompressed, at 32 bits a parameter: 13,794,560 bits
    (10 classes).

    Args:
      rngs: the initializers' random streams.
      num_classes: the output width.

    References:
      Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
      document recognition", Proceedings of the IEEE, 1998; S. Han, H. Mao, W. J. Dally,
      "Deep compression", ICLR 2016 (this variant).
    """

    def __init__(self, *, rngs: nnx.Rngs, num_classes: int = 10):
        self.conv1 = nnx.Conv(1, 20, kernel_size=(5, 5), padding="VALID", rngs=rngs)
        self.conv2 = nnx.Conv(20, 50, kernel_size=(5, 5), padding="VALID", rngs=rngs)
        self.fc1 = nnx.Linear(4 * 4 * 50, 500, rngs=rngs)
        self.fc2 = nnx.Linear(500, num_classes, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim == 3:
            x = x[..., None]
        if x.shape[-3:] != (28, 28, 1):
            raise ValueError(f"LeNet5 expects images [n, 28, 28] or [n, 28, 28, 1]; got {x.shape}")
        h = nnx.max_pool(self.conv1(x), window_shape=(2, 2), strides=(2, 2))
        h = nnx.max_pool(self.conv2(h), window_shape=(2, 2), strides=(2, 2))
        h = jax.nn.relu(self.fc1(jnp.reshape(h, (*h.shape[:-3], -1))))
        return self.fc2(h)


def lenet5(*, rngs: nnx.Rngs | None = None, seed: int = 0) -> LeNet5:
    """LeNet-5 (Caffe variant), 431,080 parameters (13,794,560 bits at float32).

    Args:
      rngs: the initializers' random streams (default ``nnx.Rngs(seed)``).
      seed: used when ``rngs`` is None.

    Returns:
      A `LeNet5` with 10 classes.

    References:
      Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
      document recognition", Proceedings of the IEEE, 1998.
    """
    return LeNet5(rngs=rngs or nnx.Rngs(seed))
