"""The two-part code: L(structure) + L(params | structure) + L(D | params), all real.

* L(structure): the architecture as integers through Rissanen's universal code (the family
  among mdl's reference models, then every layer width), so any architecture has a prefix
  code fixed before seeing data;
* L(params): the compressor's real model file in the compact format
  (`mdl.compress.files.encode_compressed` with ``compact=True``: no names, shapes or
  architecture, which the structure part already fixes);
* L(D | params): the training targets coded under the data code (categorical labels by
  default) with the decoded model's outputs (`mdl.codec.targets.encode_targets`, real
  bytes): labels, binary labels, token sequences or real values at a bin width.

Rissanen, "Modeling by shortest data description" (1978); Grunwald, "The Minimum Description
Length Principle" (2007), ch. 5; Blier and Ollivier, "The description length of deep learning
models" (NeurIPS 2018), whose two-part codes are float32 parameters plus coded labels.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from flax import nnx

from mdl.codec.targets import (
    coded_targets,
    decode_targets,
    discretize,
    encode_targets,
    ideal_bits,
    row_bits,
    side_bits,
)
from mdl.codes.data_codes import PADDING, DataCode, default_data_code
from mdl.codes.data_codes import data_code as as_data_code
from mdl.codes.integers import log_star_bits
from mdl.compress.base import Compressor, float32_baseline, leaves_with_paths
from mdl.compress.delta_code import decode_delta, encode_delta, reference_digest
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.estimators.report import DescriptionLength
from mdl.estimators.validation import check_labelled
from mdl.inference import model_outputs
from mdl.models import describe
from mdl.params import split_params

# Reference families the structure code can name; their index costs log2(len(FAMILIES)) bits.
FAMILIES = ("MLP", "LeNet5", "ConvNet", "CharRNN", "CharTransformer")


def _structure_integers(arch: dict) -> tuple[list[int], float]:
    """The integers (each coded with log*) and the extra bits that name ``arch``, a
    `mdl.models.describe` output, within its family."""
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
    r"""Bits to name ``model``'s architecture: its family among ``FAMILIES`` (uniform), then its
    integers, each with Rissanen's log* code, read from `mdl.models.describe`:

    * MLP: ``log*(len(sizes)) + sum log*(size) + log*(pool)`` (``+ log* H + log* W`` when
      pooling);
    * ConvNet: ``log*(len(channels)) + sum log*(channel)``, then ``log*`` of the kernel size,
      the input pooling, the image's height, width and channels and the number of classes, and
      one bit for global pooling;
    * LeNet-5: ``log*(num_classes)``; CharRNN: ``log*`` of the vocabulary, embedding and hidden
      sizes; CharTransformer: of the vocabulary, context, dimension, heads and layers.

    Models outside `mdl.models` raise ValueError: pass ``structure=`` yourself.

    In all, $\log_2 |\text{FAMILIES}| + \sum_i L^*(n_i)$ (+ 1 for ConvNet) bits, with
    $L^*(n) = \log_2 c + \log_2 n + \log_2 \log_2 n + \cdots$ (positive terms,
    `mdl.codes.log_star_bits`): a prefix code fixed before the data.

    Args:
      model: a reference model of `mdl.models`.

    Returns:
      Bits (a Python float).

    References:
      J. Rissanen, "A universal prior for integers and estimation by minimum description
      length", Annals of Statistics, 1983.
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
    return float(np.sum(row_bits(probs, labels)))


def _examples(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or len(x) == 0 or y.ndim < 1 or len(y) != len(x):
        raise ValueError(
            f"x and y must hold the same number (at least one) of examples; got x {x.shape} and "
            f"y {y.shape}"
        )
    return x, y


def _uniform_alphabet(code: DataCode, outputs, y) -> tuple[int, int]:
    """``(symbols, alphabet)`` of the uniform code the report compares with: every real token
    over the vocabulary, every binary label over two, every value over the bins of the data's
    window ``[min k, max k]``."""
    if code.name == "next_token":
        return int(np.sum(y != PADDING)), outputs.shape[-1]
    if code.name == "bernoulli":
        return y.size, 2
    if code.name.startswith("discretized_"):
        bins = discretize(code, y)
        return bins.size, max(2, int(bins.max() - bins.min()) + 1)
    return len(y), outputs.shape[-1]


def _error_rate(code: DataCode, outputs, y) -> float:
    wrong, count = code.errors(outputs, y)
    return float(np.sum(np.asarray(wrong, np.float64))) / max(
        float(np.sum(np.asarray(count, np.float64))), 1.0
    )


def two_part(
    model: nnx.Module,
    x,
    y,
    *,
    data_code: DataCode | str | dict | None = None,
    compressor: Compressor | None = None,
    cstate=None,
    num_classes: int | None = None,
    structure: float | None = None,
    test: tuple | None = None,
    verify: bool = True,
    reference: bytes | None = None,
) -> DescriptionLength:
    r"""The two-part description length of targets ``y`` given inputs ``x``, in real bytes.

    Args:
      model: a Flax NNX model (a classifier ``model(x) -> logits [n, K]`` by default), trained.
      x: the inputs of the data whose targets are described.
      y: the targets described.
      data_code: how the outputs code the targets (`mdl.codes.data_codes`; default:
        categorical for one integer label per example, next-token for integer sequences).
      compressor: how the parameters are written (default: float32, 32 bits each).
      cstate: the compressor's state after training (with ``compressor``).
      num_classes: the alphabet K of labels or tokens (default: the model's output width).
      structure: bits naming the architecture (default `structure_bits`).
      test: optional ``(x_test, y_test)``; the hard model's test accuracy (categorical) or
        error (``data_code.errors``: error rate, or mean squared error) goes in ``details``.
      verify: decode both files and check they give back the weights and targets exactly
        (for the discretized codes: the targets' bin centres).
      reference: the bytes of a reference model's file that the decoder already has (a
        pretrained model): the model is then sent as a delta file (`mdl.compress.encode_delta`;
        ``compressor`` must be a `mdl.compress.delta` against `mdl.compress.reference_params`
        of these bytes), and the part is named ``delta`` instead of ``params``.

    The data part is the file of `mdl.codec.targets.encode_targets`: ``data_code.bits``
    made real, plus side information the code needs (the padding of sequences). Returns a
    `DescriptionLength` with parts ``structure``, ``params``, ``data`` (``real=True``);
    ``details`` holds the estimates (``params_estimate_bits`` from ``compressor.bits``,
    ``data_estimate_bits``: the data file's ideal length, ``sum -log2 p`` under its tables;
    ``data_code_bits``: ``sum data_code.bits``, the training objective's number;
    ``data_side_bits``: what the file adds that no data code counts, the padding of sequences),
    the data code and train (and test) accuracy or error. ``num_examples`` and ``num_classes`` count
    what the uniform code would code: examples and classes, real tokens and the vocabulary,
    binary labels and 2, or values and the bins of the data's window.

    In bits: $L = L_{\text{structure}} + L(\text{params}) + L(y \mid x, \text{params})$, each
    part the length of bytes written and decoded here; with ``reference``,
    $L(\text{params})$ is $L(\text{params} \mid \text{reference})$, the delta file.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978; P. Grunwald,
      *The Minimum Description Length Principle*, MIT Press, 2007.
    """
    compressor = compressor or float32_baseline()
    code = default_data_code(y) if data_code is None else as_data_code(data_code)
    graphdef, params = split_params(model)
    if cstate is None:
        cstate = compressor.init(params, jax.random.key(0))
    # Labels keep their historical checks (float32 inputs); other targets keep their dtypes
    # (token inputs are integers).
    x, y = check_labelled(x, y) if code.name == "categorical" else _examples(x, y)
    # The structure part names the architecture, so the parameters need no names or shapes:
    # the compact format (the decoder's template supplies them).
    if reference is None:
        params_blob = encode_compressed(model, compressor, cstate, compact=True)
        _, weights = split_params(decode_compressed(params_blob, model))
    else:
        params_blob = encode_delta(model, compressor, cstate, reference)
        _, weights = split_params(decode_delta(params_blob, reference, model))
    outputs = model_outputs(graphdef, weights, x)
    k = num_classes or outputs.shape[-1]
    if code.name in ("categorical", "next_token"):
        real = y[y != PADDING] if code.name == "next_token" else y
        if outputs.shape[-1] != k or (real.size and int(real.max()) >= k):
            raise ValueError(f"model outputs {outputs.shape[-1]} classes; labels need {k}")
    elif num_classes is not None:
        raise ValueError(f"num_classes applies to labels and tokens, not to {code.name} targets")
    data_blob = encode_targets(code, outputs, y)
    if verify and not np.array_equal(
        decode_targets(code, outputs, data_blob), coded_targets(code, y)
    ):
        raise AssertionError(f"two_part: the {code.name} file did not decode to the targets")
    hard = compressor.hard(params, cstate)
    for (path, mine), decoded in zip(
        leaves_with_paths(hard), jax.tree.leaves(weights), strict=True
    ):
        if verify and not np.array_equal(np.asarray(mine, np.float32), np.asarray(decoded)):
            raise AssertionError(f"two_part: tensor {path} decoded differently")
    details = {
        "params_estimate_bits": float(compressor.bits(params, cstate)),
        "data_estimate_bits": ideal_bits(code, outputs, y),
    }
    if code.name == "categorical":
        details["train_accuracy"] = float(np.mean(outputs.argmax(1) == y))
    else:
        details["train_error"] = _error_rate(code, outputs, y)
    details["num_params"] = int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))
    if test is not None:
        if code.name == "categorical":
            x_test, y_test = check_labelled(*test)
            test_outputs = model_outputs(graphdef, weights, x_test)
            details["test_accuracy"] = float(np.mean(test_outputs.argmax(1) == y_test))
        else:
            x_test, y_test = _examples(*test)
            details["test_error"] = _error_rate(
                code, model_outputs(graphdef, weights, x_test), y_test
            )
    details["data_code"] = code.describe()
    details["data_code_bits"] = float(np.sum(np.asarray(code.bits(outputs, y), np.float64)))
    details["data_side_bits"] = side_bits(code, y)
    if reference is not None:
        details["reference_sha256"] = reference_digest(reference).hex()
    parts = {
        "structure": structure_bits(model) if structure is None else float(structure),
        "params" if reference is None else "delta": 8.0 * len(params_blob),
        "data": 8.0 * len(data_blob),
    }
    count, alphabet = _uniform_alphabet(code, outputs, y)
    return DescriptionLength("two_part", parts, count, alphabet, real=True, details=details)
