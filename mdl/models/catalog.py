"""Reference architectures by name, built to fit a data set: what sweep configs refer to.

``reference_model({"name": "ConvNet", "channels": [8, 16]}, data, seed=0, width=None)`` builds
a fresh model whose input fits ``data.input_shape`` and whose outputs fit its targets
(``data.num_classes`` classes or symbols). ``width`` is a sweep axis: it replaces the model's
width (MLP: every hidden layer; ConvNet: the first layer's channels, the others scaled with it;
CharRNN: the hidden state; CharTransformer: the model dimension). LeNet-5 has no width.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from flax import nnx

from mdl.models.convnet import ConvNet
from mdl.models.lenet5 import LeNet5
from mdl.models.mlp import MLP
from mdl.models.sequence import CharRNN, CharTransformer


def _options(spec: dict, allowed: dict) -> dict:
    """``allowed`` (defaults) updated by ``spec``, refusing names the model does not take."""
    unknown = sorted(set(spec) - set(allowed) - {"name"})
    if unknown:
        raise ValueError(
            f"model {spec['name']!r} takes no option(s) {unknown}; its options: {sorted(allowed)}"
        )
    return allowed | {k: v for k, v in spec.items() if k != "name"}


def _image(data) -> tuple[int, ...]:
    shape = tuple(int(s) for s in data.input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            f"this model needs image inputs [H, W] or [H, W, C]; the data has examples of shape "
            f"{shape}"
        )
    return shape


def _tokens(data, name: str) -> None:
    if len(data.input_shape) != 1 or data.x_train.dtype.kind not in "iu":
        raise ValueError(
            f"{name} needs integer token sequences [T]; the data has {data.x_train.dtype} "
            f"examples of shape {tuple(data.input_shape)}"
        )


def _mlp(spec, data, rngs, width):
    o = _options(spec, {"hidden": [32], "pool": 1})
    hidden = [int(h) for h in o["hidden"]]
    if width is not None:
        hidden = [int(width)] * len(hidden)
    pool = int(o["pool"])
    if pool > 1:
        height, width_px = _image(data)[:2]
        inputs, image_shape = (height // pool) * (width_px // pool), (height, width_px)
    else:
        inputs, image_shape = math.prod(data.input_shape), None
    return MLP([inputs, *hidden, data.num_classes], pool=pool, image_shape=image_shape, rngs=rngs)


def _convnet(spec, data, rngs, width):
    o = _options(
        spec, {"channels": [8, 16], "kernel_size": 3, "input_pool": 1, "global_pool": False}
    )
    channels = [int(c) for c in o["channels"]]
    if width is not None:
        channels = [max(1, round(int(width) * c / channels[0])) for c in channels]
    return ConvNet(
        channels,
        image_shape=_image(data),
        num_classes=data.num_classes,
        kernel_size=int(o["kernel_size"]),
        input_pool=int(o["input_pool"]),
        global_pool=bool(o["global_pool"]),
        rngs=rngs,
    )


def _lenet5(spec, data, rngs, width):
    _options(spec, {})
    if width is not None:
        raise ValueError("LeNet5 has a fixed width; sweep widths with ConvNet or MLP")
    if _image(data)[:2] != (28, 28):
        raise ValueError(f"LeNet5 takes 28 x 28 images; the data has {data.input_shape}")
    return LeNet5(rngs=rngs, num_classes=data.num_classes)


def _char_rnn(spec, data, rngs, width):
    _tokens(data, "CharRNN")
    o = _options(spec, {"embed_dim": 16, "hidden": 64})
    hidden = int(width if width is not None else o["hidden"])
    return CharRNN(data.num_classes, embed_dim=int(o["embed_dim"]), hidden=hidden, rngs=rngs)


def _char_transformer(spec, data, rngs, width):
    _tokens(data, "CharTransformer")
    o = _options(spec, {"dim": 64, "num_heads": 4, "num_layers": 2})
    return CharTransformer(
        data.num_classes,
        int(data.input_shape[0]),
        dim=int(width if width is not None else o["dim"]),
        num_heads=int(o["num_heads"]),
        num_layers=int(o["num_layers"]),
        rngs=rngs,
    )


MODELS: dict[str, Callable] = {
    "MLP": _mlp,
    "ConvNet": _convnet,
    "LeNet5": _lenet5,
    "CharRNN": _char_rnn,
    "CharTransformer": _char_transformer,
}


def check_model_spec(spec) -> dict:
    """``spec`` as a dict with a known ``name`` (a bare name is allowed), or ValueError."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or spec.get("name") not in MODELS:
        name = spec.get("name") if isinstance(spec, dict) else spec
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return dict(spec)


def reference_model(spec, data, *, seed: int = 0, width: int | None = None) -> nnx.Module:
    """A fresh reference model named by ``spec`` that fits ``data`` (module doc)."""
    spec = check_model_spec(spec)
    return MODELS[spec["name"]](spec, data, nnx.Rngs(seed), width)
