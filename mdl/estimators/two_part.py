"""The two-part code: L(structure) + L(params | structure) + L(D | params), all real.

* L(structure): the architecture as integers through Rissanen's universal code (the family
  among mdl's reference models, then every layer width), so any architecture has a prefix
  code fixed before seeing data;
* L(params): the compressor's real model file, in the compact format
  (:mod:`mdl.codec.compact`: no names, shapes or architecture, which the structure part
  already fixes) when the compressor's leaves allow, else ``mdl.codec.encode_model``;
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

from mdl.codec.compact import decode_compact, encode_compact
from mdl.codec.model import QuantizedLeaf, RawLeaf, decode_model, encode_model
from mdl.codec.stream import decode_labels, encode_labels
from mdl.codes.integers import log_star_bits
from mdl.compress.base import Compressor, float32_baseline, path_string
from mdl.compress.files import split_params
from mdl.estimators.report import DescriptionLength
from mdl.estimators.validation import check_labelled
from mdl.models import MLP, ConvNet, LeNet5
from mdl.train import predictive_probs

# Reference families the structure code can name; their index costs log2(len(FAMILIES)) bits.
FAMILIES = ("MLP", "LeNet5", "ConvNet")


def structure_bits(model: nnx.Module) -> float:
    """Bits to name ``model``'s architecture: its family, then its integers (log* each).

    MLP ``sizes``: ``log*(len(sizes)) + sum log*(size) + log*(pool)`` (``+ log* H + log* W``
    when pooling); LeNet-5: ``log*(num_classes)``; ConvNet: ``log*(len(channels)) + sum
    log*(channel)``, then ``log*`` of the kernel size, the input pooling, the image's height,
    width and channels and the number of classes, and one bit for global pooling.
    Models outside :mod:`mdl.models` raise ValueError: pass ``structure=`` yourself.
    """
    family = math.log2(len(FAMILIES))
    if isinstance(model, MLP):
        sizes = list(model.sizes)
        bits = family + float(log_star_bits(len(sizes))) + float(np.sum(log_star_bits(sizes)))
        # The input pooling (1 = none) and, when pooling, the image's height and width.
        bits += float(log_star_bits(model.pool))
        if model.pool > 1:
            bits += float(np.sum(log_star_bits(list(model.image_shape))))
        return bits
    if isinstance(model, ConvNet):
        channels = list(model.channels)
        height, width, *depth = model.image_shape
        integers = [len(channels), *channels, model.kernel_size, model.input_pool, height, width]
        integers += [depth[0] if depth else 1, model.num_classes]
        return family + float(np.sum(log_star_bits(integers))) + 1.0
    if isinstance(model, LeNet5):
        return family + float(log_star_bits(int(model.fc2.out_features)))
    raise ValueError(
        f"no structure code for {type(model).__name__}; pass structure= (the bits that "
        "name your architecture in a code fixed before seeing the data)"
    )


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
    leaves = compressor.finalize(params, cstate)
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    ordered = [leaves[path_string(p)] for p, _ in flat]
    if all(isinstance(leaf, QuantizedLeaf | RawLeaf) for leaf in ordered):
        # The structure part names the architecture, so the parameters need no names or
        # shapes: the compact format (the decoder's template supplies them).
        params_blob = encode_compact(ordered)
        decoded_list = decode_compact(params_blob, [np.shape(leaf) for _, leaf in flat])
    else:
        params_blob = encode_model(leaves, arch=None)
        decoded_map, _ = decode_model(params_blob)
        decoded_list = [decoded_map[path_string(p)] for p, _ in flat]
    decoded = {path_string(p): d for (p, _), d in zip(flat, decoded_list, strict=True)}
    weights = jax.tree_util.tree_unflatten(treedef, [np.asarray(d) for d in decoded_list])
    probs = predictive_probs(graphdef, weights, x)
    k = num_classes or probs.shape[1]
    if probs.shape[1] != k or int(y.max()) >= k:
        raise ValueError(f"model outputs {probs.shape[1]} classes; labels need {k}")
    labels_blob = encode_labels(probs, y)
    if verify:
        if not np.array_equal(decode_labels(probs, labels_blob), y):
            raise AssertionError("two_part: the label file did not decode to the labels")
    hard = compressor.apply(params, cstate, None)
    for (path, _), (_, mine) in zip(
        flat, jax.tree_util.tree_flatten_with_path(hard)[0], strict=True
    ):
        if verify and not np.array_equal(np.asarray(mine, np.float32), decoded[path_string(path)]):
            raise AssertionError(f"two_part: tensor {path_string(path)} decoded differently")
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
