"""The two-part code: L(structure) + L(params | structure) + L(D | params), all real.

* L(structure): the architecture as integers through Rissanen's universal code (the family
  among mdl's reference models, then every layer width), so any architecture has a prefix
  code fixed before seeing data;
* L(params): the compressor's real model file in the compact format
  (:func:`mdl.compress.files.encode_compressed` with ``compact=True``: no names, shapes or
  architecture, which the structure part already fixes);
* L(D | params): the training labels coded with the decoded model's predictive distribution
  (``mdl.codec.encode_labels``, real bytes).

Rissanen, "Modeling by shortest data description" (1978); Grunwald, "The Minimum Description
Length Principle" (2007), ch. 5; Blier and Ollivier, "The description length of deep learning
models" (NeurIPS 2018), whose two-part codes are float32 parameters plus coded labels.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from flax import nnx

from mdl.codec.stream import decode_labels, encode_labels
from mdl.codes.integers import log_star_bits
from mdl.compress.base import Compressor, float32_baseline, leaves_with_paths
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.estimators.report import DescriptionLength
from mdl.estimators.validation import check_labelled
from mdl.inference import predictive_probs
from mdl.models import describe
from mdl.params import split_params

# Reference families the structure code can name; their index costs log2(len(FAMILIES)) bits.
FAMILIES = ("MLP", "LeNet5", "ConvNet", "CharRNN", "CharTransformer")


def _structure_integers(arch: dict) -> tuple[list[int], float]:
    """The integers (each coded with log*) and the extra bits that name ``arch``, a
    :func:`mdl.models.describe` output, within its family."""
    name = arch["name"]
    if name == "MLP":
        sizes = list(arch["sizes"])
        pool = int(arch.get("pool", 1))
        # The layer count, every width, the input pooling (1 = none) and, when pooling, the
        # image's height and width.
        integers = [len(sizes), *sizes, pool]
        return integers + (list(arch["image_shape"]) if pool > 1 else []), 0.0
    if name == "ConvNet":
        channels = list(arch["channels"])
        height, width, *depth = arch["image_shape"]
        integers = [len(channels), *channels, arch["kernel_size"], arch["input_pool"]]
        integers += [height, width, depth[0] if depth else 1, arch["num_classes"]]
        return integers, 1.0  # one bit: global pooling or not
    if name == "LeNet5":
        return [arch["num_classes"]], 0.0
    if name == "CharRNN":
        return [arch["vocab_size"], arch["embed_dim"], arch["hidden"]], 0.0
    if name == "CharTransformer":
        fields = ("vocab_size", "context", "dim", "num_heads", "num_layers")
        return [arch[f] for f in fields], 0.0
    raise ValueError(f"no structure code for architecture family {name!r}")


def structure_bits(model: nnx.Module) -> float:
    """Bits to name ``model``'s architecture: its family among ``FAMILIES`` (uniform), then its
    integers, each with Rissanen's log* code, read from :func:`mdl.models.describe`:

    * MLP: ``log*(len(sizes)) + sum log*(size) + log*(pool)`` (``+ log* H + log* W`` when
      pooling);
    * ConvNet: ``log*(len(channels)) + sum log*(channel)``, then ``log*`` of the kernel size,
      the input pooling, the image's height, width and channels and the number of classes, and
      one bit for global pooling;
    * LeNet-5: ``log*(num_classes)``; CharRNN: ``log*`` of the vocabulary, embedding and hidden
      sizes; CharTransformer: of the vocabulary, context, dimension, heads and layers.

    Models outside :mod:`mdl.models` raise ValueError: pass ``structure=`` yourself.
    """
    arch = describe(model)
    if arch is None:
        raise ValueError(
            f"no structure code for {type(model).__name__}; pass structure= (the bits that "
            "name your architecture in a code fixed before seeing the data)"
        )
    integers, extra = _structure_integers(arch)
    family = math.log2(len(FAMILIES))
    return family + float(np.sum(log_star_bits([int(v) for v in integers]))) + extra


def labels_bits(probs, labels) -> float:
    """``sum_i -log2 probs[i, y_i]`` in float64: the ideal code length of the labels."""
    picked = np.asarray(probs, np.float64)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.sum(np.log2(np.maximum(picked, 1e-300))))


def two_part(
    model: nnx.Module,
    x,
    y,
    *,
    compressor: Compressor | None = None,
    cstate=None,
    num_classes: int | None = None,
    structure: float | None = None,
    test: tuple | None = None,
    verify: bool = True,
) -> DescriptionLength:
    """The two-part description length of labels ``y`` given inputs ``x``, in real bytes.

    Args:
      model: a Flax NNX classifier (``model(x) -> logits [n, K]``), trained.
      x, y: the data whose labels are described.
      compressor, cstate: how the parameters are written (default: float32, 32 bits each).
      num_classes: K (default: the model's output width).
      structure: bits naming the architecture (default :func:`structure_bits`).
      test: optional ``(x_test, y_test)``; the hard model's test accuracy goes in ``details``.
      verify: decode both files and check they give back the weights and labels exactly.

    Returns a :class:`DescriptionLength` with parts ``structure``, ``params``, ``data``
    (``real=True``); ``details`` holds the estimates (``params_estimate_bits`` from
    ``compressor.bits``, ``data_estimate_bits`` = sum of -log2 p) and accuracies.
    """
    compressor = compressor or float32_baseline()
    graphdef, params = split_params(model)
    if cstate is None:
        cstate = compressor.init(params, jax.random.key(0))
    x, y = check_labelled(x, y)
    # The structure part names the architecture, so the parameters need no names or shapes:
    # the compact format (the decoder's template supplies them).
    params_blob = encode_compressed(model, compressor, cstate, compact=True)
    _, weights = split_params(decode_compressed(params_blob, model))
    probs = predictive_probs(graphdef, weights, x)
    k = num_classes or probs.shape[1]
    if probs.shape[1] != k or int(y.max()) >= k:
        raise ValueError(f"model outputs {probs.shape[1]} classes; labels need {k}")
    labels_blob = encode_labels(probs, y)
    if verify:
        if not np.array_equal(decode_labels(probs, labels_blob), y):
            raise AssertionError("two_part: the label file did not decode to the labels")
    hard = compressor.hard(params, cstate)
    for (path, mine), decoded in zip(
        leaves_with_paths(hard), jax.tree.leaves(weights), strict=True
    ):
        if verify and not np.array_equal(np.asarray(mine, np.float32), np.asarray(decoded)):
            raise AssertionError(f"two_part: tensor {path} decoded differently")
    details = {
        "params_estimate_bits": float(compressor.bits(params, cstate)),
        "data_estimate_bits": labels_bits(probs, y),
        "train_accuracy": float(np.mean(probs.argmax(1) == y)),
        "num_params": int(sum(np.size(leaf) for leaf in jax.tree.leaves(params))),
    }
    if test is not None:
        x_test, y_test = check_labelled(*test)
        details["test_accuracy"] = float(
            np.mean(predictive_probs(graphdef, weights, x_test).argmax(1) == y_test)
        )
    parts = {
        "structure": structure_bits(model) if structure is None else float(structure),
        "params": 8.0 * len(params_blob),
        "data": 8.0 * len(labels_blob),
    }
    return DescriptionLength("two_part", parts, len(y), k, real=True, details=details)
