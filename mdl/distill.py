r"""Knowledge distillation with honest bits: the teacher trains the student, the code is the
student's.

`distill` trains a student (any NNX classifier, any compressor) on

$$ n \,\mathbb{E}_{\text{batch}}\Big[(1 - \alpha)\,(-\log_2 p_s(y \mid x))
   + \alpha\, T^2\, \mathrm{KL}\big(p_t^{T} \,\|\, p_s^{T}\big)(x)/\ln 2\Big]
   + \beta_t\, \mathrm{bits}(\text{params}) $$

where $p^T = \mathrm{softmax}(\text{logits} / T)$ and the $T^2$ keeps the soft term's gradient
on the scale of the hard one (Hinton et al. 2015). The teacher is a training aid, not part of
any code: `distill` returns the same `mdl.train.FitResult` as `mdl.train.fit`, with the
*categorical* data code, so the student's two-part code (`mdl.estimators.two_part`, or
`mdl.compress.save_compressed` plus the labels' file) is the student's file plus the labels
given the student, and a decoder needs neither the teacher nor its outputs.

It is `fit` on a packed data set: each training target is ``[label, teacher logits...]`` and
the loss is `distillation_loss`, so batching, warm-up, compressors and schedules are `fit`'s.
Every history row keeps the training objective's value as ``objective_bits``; the last row
also carries ``train_data_bits``, ``test_data_bits`` and ``total_bits`` recomputed with the
categorical code for the returned student (the code its file would use).

References:
  G. Hinton, O. Vinyals, J. Dean, "Distilling the knowledge in a neural network", NIPS Deep
  Learning Workshop, 2015.
"""

from __future__ import annotations

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mdl.codes.data_codes import DataCode, categorical
from mdl.compress.base import Compressor
from mdl.data.dataset import Dataset
from mdl.inference import evaluate, model_outputs
from mdl.params import split_params
from mdl.train import FitResult, fit

_LN2 = math.log(2.0)


def distillation_loss(alpha: float, temperature: float) -> DataCode:
    r"""The per-example training loss of distillation, in bits, as a `DataCode`-shaped object
    for `fit` (a training objective, not a code: it has no file, and `distill` never reports it
    as one).

    Targets are ``[n, 1 + C]`` floats: the label, then the teacher's ``C`` logits.
    ``bits = (1 - alpha) CE + alpha T^2 KL(teacher_T || student_T) / ln 2``.

    Args:
      alpha: the weight of the teacher's soft targets, in [0, 1].
      temperature: ``T > 0``.

    Returns:
      A `mdl.codes.data_codes.DataCode` named ``"distillation"``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature!r}")

    def bits(logits, targets):
        labels = targets[:, 0].astype(jnp.int32)
        log_p = jax.nn.log_softmax(logits, -1)
        hard = -jnp.take_along_axis(log_p, labels[:, None], -1)[:, 0] / _LN2
        teacher = jax.nn.log_softmax(targets[:, 1:] / temperature, -1)
        student = jax.nn.log_softmax(logits / temperature, -1)
        kl = jnp.sum(jnp.exp(teacher) * (teacher - student), -1) / _LN2
        return (1.0 - alpha) * hard + alpha * temperature**2 * kl

    def errors(logits, targets):
        wrong = (jnp.argmax(logits, -1) != targets[:, 0].astype(jnp.int32)).astype(jnp.float32)
        return wrong, jnp.ones_like(wrong)

    def check(targets, output_shape):
        targets = np.asarray(targets)
        if targets.ndim != 2 or (output_shape and targets.shape[1] != 1 + output_shape[-1]):
            raise ValueError(
                f"distillation targets must be [n, 1 + classes] (label, teacher logits) for "
                f"outputs of shape {output_shape}; got {targets.shape}"
            )

    options = (("alpha", float(alpha)), ("temperature", float(temperature)))
    return DataCode("distillation", bits, errors, check, options)


def _pack(teacher_graphdef, teacher_weights, x, y, num_classes: int) -> np.ndarray:
    logits = model_outputs(teacher_graphdef, teacher_weights, x)
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ValueError(
            f"the teacher must output [n, {num_classes}] logits (the data set's classes); got "
            f"{logits.shape}"
        )
    return np.concatenate([np.asarray(y, np.float32)[:, None], logits.astype(np.float32)], 1)


def distill(
    student: nnx.Module,
    teacher: nnx.Module,
    data: Dataset,
    *,
    alpha: float = 0.5,
    temperature: float = 4.0,
    compressor: Compressor | None = None,
    **fit_options,
) -> FitResult:
    """Train ``student`` on the distillation objective (module doc) and return its `FitResult`
    with the categorical data code: the student's code never involves the teacher.

    Args:
      student: the model to train (any NNX classifier with ``data.num_classes`` logits).
      teacher: a trained model with the same number of logits; only its outputs on the data
        are used (computed once, before training).
      data: a `mdl.data.Dataset` of integer labels (an empty test split is allowed).
      alpha: weight of the soft targets, in [0, 1] (0: plain `fit`).
      temperature: softmax temperature of the soft targets, > 0.
      compressor: the student's compressor (default: float32, as `fit`).
      **fit_options: `mdl.train.fit`'s other arguments (optimizer, epochs, batch_size, beta,
        warmup_fraction, key, eval_every, progress). ``keep_best`` and ``data_code`` are not
        taken: the objective is not a code length, so choosing by it would not be MDL.

    Returns:
      A `mdl.train.FitResult`; every history row has ``objective_bits``, and the last one the
      returned student's categorical ``train_data_bits``, ``test_data_bits`` and
      ``total_bits`` (model bits + categorical train bits).

    Raises:
      ValueError: for alpha or temperature out of range, non-integer labels, a teacher whose
        outputs do not match the classes, or ``keep_best``/``data_code`` in ``fit_options``;
        all before training.
    """
    for name in ("keep_best", "data_code"):
        if name in fit_options:
            raise ValueError(f"distill does not take {name}= (see its docstring)")
    objective = distillation_loss(alpha, temperature)
    if data.y_train.dtype.kind not in "iu":
        raise ValueError(f"distill needs integer class labels; got dtype {data.y_train.dtype}")
    teacher_graphdef, teacher_weights = split_params(teacher)
    packed = replace(
        data,
        y_train=_pack(
            teacher_graphdef, teacher_weights, data.x_train, data.y_train, data.num_classes
        ),
        y_test=_pack(teacher_graphdef, teacher_weights, data.x_test, data.y_test, data.num_classes)
        if len(data.y_test)
        else np.zeros((0, 1 + data.num_classes), np.float32),
    )
    result = fit(student, packed, compressor=compressor, data_code=objective, **fit_options)
    # The history in honest bits: the categorical code of the labels given the student's
    # hard weights at the end (what its file decodes to); the objective kept beside it.
    code = categorical()
    graphdef, _ = split_params(result.model)
    hard = result.compressor.hard(result.params, result.cstate)
    train_bits, train_error = evaluate(graphdef, hard, data.x_train, data.y_train, code)
    history = []
    for row in result.history:
        row = {**row, "objective_bits": row["train_data_bits"]}
        row.pop("train_data_bits")
        row.pop("test_data_bits")
        row.pop("total_bits")
        history.append(row)
    final = history[-1]
    final["train_data_bits"] = train_bits
    final["train_error"] = train_error
    final["total_bits"] = final["model_bits"] + train_bits
    if len(data.y_test):
        final["test_data_bits"], final["test_error"] = evaluate(
            graphdef, hard, data.x_test, data.y_test, code
        )
    return result._replace(history=history, data_code=code)
