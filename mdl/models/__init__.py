"""Reference Flax NNX models with the sizes the compression literature quotes."""

import jax
from flax import nnx

from mdl.models.convnet import ConvNet
from mdl.models.lenet5 import LeNet5, lenet5
from mdl.models.mlp import MLP, lenet_300_100
from mdl.models.sequence import CharRNN, CharTransformer, CountingRNN


def parameter_count(model: nnx.Module) -> int:
    """Number of scalars in the model's ``nnx.Param`` state.

    Times 32, the model's uncompressed description length in bits (the
    `mdl.compress.float32_baseline`).

    Args:
      model: a Flax NNX module.

    Returns:
      The count (an int).
    """
    return sum(int(leaf.size) for leaf in jax.tree.leaves(nnx.state(model, nnx.Param)))


__all__ = [
    "MLP",
    "CharRNN",
    "ConvNet",
    "CharTransformer",
    "CountingRNN",
    "LeNet5",
    "lenet5",
    "lenet_300_100",
    "parameter_count",
]


def describe(model: nnx.Module) -> dict | None:
    """A JSON description from which `build` recreates a reference model's structure
    (``None`` for models defined elsewhere: load those with a template instead)."""
    if isinstance(model, LeNet5):
        return {"name": "LeNet5", "num_classes": int(model.fc2.out_features)}
    if isinstance(model, ConvNet):
        return {
            "name": "ConvNet",
            "channels": list(model.channels),
            "image_shape": list(model.image_shape),
            "num_classes": model.num_classes,
            "kernel_size": model.kernel_size,
            "input_pool": model.input_pool,
            "global_pool": model.global_pool,
        }
    if isinstance(model, CharRNN):
        return {
            "name": "CharRNN",
            "vocab_size": model.vocab_size,
            "embed_dim": model.embed_dim,
            "hidden": model.hidden,
        }
    if isinstance(model, CountingRNN):
        return {
            "name": "CountingRNN",
            "vocab_size": model.vocab_size,
            "state": model.state,
            "readout": model.readout,
        }
    if isinstance(model, CharTransformer):
        return {
            "name": "CharTransformer",
            "vocab_size": model.vocab_size,
            "context": model.context,
            "dim": model.dim,
            "num_heads": model.num_heads,
            "num_layers": model.num_layers,
        }
    if isinstance(model, MLP) and model.activation is jax.nn.relu:
        arch = {"name": "MLP", "sizes": list(model.sizes)}
        if model.pool > 1:
            arch |= {"pool": model.pool, "image_shape": list(model.image_shape)}
        return arch
    return None


def build(arch: dict, seed: int = 0) -> nnx.Module:
    """Recreate a reference model from `describe`'s output (weights freshly initialized)."""
    name = arch.get("name") if isinstance(arch, dict) else None
    if name == "LeNet5":
        return LeNet5(rngs=nnx.Rngs(seed), num_classes=int(arch.get("num_classes", 10)))
    if name == "ConvNet":
        return ConvNet(
            [int(c) for c in arch["channels"]],
            image_shape=tuple(int(s) for s in arch["image_shape"]),
            num_classes=int(arch["num_classes"]),
            kernel_size=int(arch["kernel_size"]),
            input_pool=int(arch["input_pool"]),
            global_pool=bool(arch["global_pool"]),
            rngs=nnx.Rngs(seed),
        )
    if name == "MLP":
        pool = int(arch.get("pool", 1))
        image_shape = tuple(int(v) for v in arch["image_shape"]) if pool > 1 else None
        return MLP(
            [int(s) for s in arch["sizes"]], pool=pool, image_shape=image_shape, rngs=nnx.Rngs(seed)
        )
    if name == "CharRNN":
        return CharRNN(
            int(arch["vocab_size"]),
            embed_dim=int(arch["embed_dim"]),
            hidden=int(arch["hidden"]),
            rngs=nnx.Rngs(seed),
        )
    if name == "CountingRNN":
        return CountingRNN(
            int(arch["vocab_size"]),
            state=int(arch["state"]),
            readout=int(arch["readout"]),
            rngs=nnx.Rngs(seed),
        )
    if name == "CharTransformer":
        return CharTransformer(
            int(arch["vocab_size"]),
            int(arch["context"]),
            dim=int(arch["dim"]),
            num_heads=int(arch["num_heads"]),
            num_layers=int(arch["num_layers"]),
            rngs=nnx.Rngs(seed),
        )
    raise ValueError(f"unknown architecture description {arch!r}; pass a model template")
