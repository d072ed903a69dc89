"""Running a trained model: outputs, code lengths and errors over a whole data set, in chunks.

Below the estimators and the trainers: `evaluate` gives ``(data bits, error rate)`` under
any `DataCode`, for one model or for a stacked points axis;
`predictive_probs` gives the float64 class probabilities a decoder recomputes bit for bit
(the two-part and prequential label files rely on it). One compiled program per model
structure and data code (cached), fixed-size chunks so memory stays flat.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mdl.codes.data_codes import DataCode, default_data_code
from mdl.params import split_params


@functools.lru_cache(maxsize=64)
def _chunk_stats(graphdef, data_code: DataCode, points: bool, targets_per_point: bool):
    def stats(weights, x, y):
        outputs = nnx.merge(graphdef, weights)(x)
        # Per example: the host sums them in float64 (a float32 sum over 60,000 examples
        # would drift in the last bits reported).
        wrong, count = data_code.errors(outputs, y)
        return data_code.bits(outputs, y), wrong, count

    if points:
        stats = jax.vmap(stats, in_axes=(0, None, 0 if targets_per_point else None))
    return jax.jit(stats)


def evaluate_totals(
    graphdef,
    weights,
    x,
    y,
    data_code: DataCode | None = None,
    *,
    points: bool = False,
    targets_per_point: bool = False,
    chunk: int = 2_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Summed data bits, wrong count and count (float64), over example chunks of ``chunk``.

    With ``points=True`` the weights carry a leading points axis and each total is ``[P]``;
    ``targets_per_point`` gives ``y`` that axis too (``[P, n, ...]``).

    The bits are $\sum_i -\log_2 p(y_i \mid x_i)$, the sum of ``data_code.bits`` over the
    examples (computed per example on the device, summed in float64 on the host); the wrong
    count and count are ``data_code.errors``'.

    Args:
      graphdef: the model's ``nnx`` graph definition.
      weights: its parameters (with a leading points axis when ``points``).
      x: inputs ``[n, ...]``.
      y: targets ``[n, ...]`` (``[P, n, ...]`` when ``targets_per_point``).
      data_code: the `DataCode` (default: chosen from ``y``'s type).
      points: the weights carry a leading points axis.
      targets_per_point: ``y`` carries it too.
      chunk: examples per compiled call.

    Returns:
      ``(bits, wrong, count)``, float64 scalars or ``[P]``; bits in bits.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (the data part
      $L(D \mid \text{params})$ of a two-part code).
    """
    data_code = data_code or default_data_code(np.asarray(y[0] if targets_per_point else y))
    stats = _chunk_stats(graphdef, data_code, points, targets_per_point)
    n = x.shape[0]
    totals = [0.0, 0.0, 0.0]
    for start in range(0, n, chunk):
        yb = y[:, start : start + chunk] if targets_per_point else y[start : start + chunk]
        parts = stats(weights, jnp.asarray(x[start : start + chunk]), jnp.asarray(yb))
        totals = [
            t + np.asarray(p, np.float64).sum(axis=-1) for t, p in zip(totals, parts, strict=True)
        ]
    return tuple(np.asarray(t) for t in totals)


def evaluate(graphdef, weights, x, y, data_code: DataCode | None = None, chunk: int = 2_000):
    r"""``(data bits, error rate)`` of ``weights`` on ``(x, y)`` under ``data_code`` (default:
    categorical for labels, next-token for integer sequences), summed in float64. The error
    rate is wrong / count (labels, real tokens, or a mean squared error for real targets).

    The data bits are $L(D \mid \text{params}) = \sum_i -\log_2 p(y_i \mid x_i)$ under
    ``data_code`` (`evaluate_totals`).

    Args:
      graphdef: the model's ``nnx`` graph definition.
      weights: its parameters.
      x: inputs ``[n, ...]``.
      y: targets ``[n, ...]``.
      data_code: the `DataCode`, or None for the default.
      chunk: examples per compiled call.

    Returns:
      ``(bits, error_rate)``, Python floats; bits in bits.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (the data part
      $L(D \mid \text{params})$ of a two-part code).
    """
    bits, wrong, count = evaluate_totals(graphdef, weights, x, y, data_code, chunk=chunk)
    return float(bits), float(wrong) / max(float(count), 1.0)


def evaluate_model(model: nnx.Module, x, y, data_code: DataCode | None = None, chunk: int = 2_000):
    """`evaluate` of a whole NNX model, its weights split off by `mdl.params.split_params`: a
    decoded file's ``(data bits, error rate)`` on ``(x, y)`` in one call."""
    graphdef, weights = split_params(model)
    return evaluate(graphdef, weights, x, y, data_code, chunk)


def check_data_code_fits(graphdef, params, data, data_code: DataCode) -> None:
    """Refuse, before any training, a data code that cannot code ``data``'s targets with this
    model's outputs (the output shape comes from ``jax.eval_shape``: nothing is computed).

    Args:
      graphdef: the model's ``nnx`` graph definition.
      params: its parameters.
      data: a `mdl.data.Dataset`.
      data_code: the `DataCode` to check.

    Raises:
      ValueError: when the targets or the outputs' shape do not fit ``data_code`` (raised
        by ``data_code.check``).
    """
    example = jax.ShapeDtypeStruct((1, *data.input_shape), data.x_train.dtype)
    outputs = jax.eval_shape(lambda p, x: nnx.merge(graphdef, p)(x), params, example)
    data_code.check(data.y_train, tuple(outputs.shape[1:]))


@functools.lru_cache(maxsize=32)
def _outputs_fn(graphdef):
    return jax.jit(lambda weights, xb: nnx.merge(graphdef, weights)(xb))


def model_outputs(graphdef, weights, x, chunk: int = 4096) -> np.ndarray:
    """The model's outputs on ``x`` as numpy, in chunks of fixed size: the same inputs give the
    same outputs bit for bit, which an encoder and a decoder that recomputes them rely on.

    Args:
      graphdef: the model's ``nnx`` graph definition.
      weights: its parameters.
      x: inputs ``[n, ...]``.
      chunk: examples per compiled call (the same on both ends of a code).

    Returns:
      The outputs (e.g. logits) ``[n, ...]``, as the model computes them (no units).
    """
    apply = _outputs_fn(graphdef)
    return np.concatenate(
        [np.asarray(apply(weights, x[start : start + chunk])) for start in range(0, len(x), chunk)]
    )


def predictive_probs(graphdef, weights, x, temperature: float = 1.0, chunk: int = 4096):
    r"""``softmax(logits / T)`` of the model on ``x``, float64 ``[..., K]``, from the chunked
    `model_outputs` (so bit for bit reproducible, as the prequential decoder needs).

    $p_{ik} = \exp(z_{ik} / T) / \sum_j \exp(z_{ij} / T)$ in float64 (the row maximum
    subtracted first); $-\log_2 p_{i y_i}$ is label $i$'s code length in bits.

    Args:
      graphdef: the model's ``nnx`` graph definition.
      weights: its parameters.
      x: inputs ``[n, ...]``.
      temperature: $T > 0$.
      chunk: examples per compiled call.

    Returns:
      Probabilities, float64 ``[n, K]`` (``[..., K]`` for sequence outputs).

    References:
      C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger, "On calibration of modern neural
      networks", ICML 2017 (temperature scaling).
    """
    logits = model_outputs(graphdef, weights, x, chunk).astype(np.float64) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=-1, keepdims=True)


__all__ = [
    "check_data_code_fits",
    "evaluate",
    "evaluate_totals",
    "model_outputs",
    "predictive_probs",
]
