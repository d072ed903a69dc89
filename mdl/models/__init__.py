"""Reference Flax NNX models with the sizes the compression literature quotes."""

import jax
from flax import nnx

from mdl.models.lenet5 import LeNet5, lenet5
from mdl.models.mlp import MLP, lenet_300_100
from mdl.models.sequence import CharRNN, CharTransformer


def parameter_count(model: nnx.Module) -> int:
    """Number of scalars in the model's ``nnx.Param`` state."""
    return sum(int(leaf.size) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


__all__ = [
    "MLP",
    "CharRNN",
    "CharTransformer",
    "LeNet5",
    "lenet5",
    "lenet_300_100",
    "parameter_count",
]
