"""Minimize total description length: data bits + beta x model bits, with optax.

``fit`` trains the model's parameters and the compressor's state together on

    L = sum_{i in train} L(y_i | x_i; apply(params, cstate, key)) + beta_t * bits(params, cstate)

estimated per minibatch as ``n_train x mean`` of the batch's data bits, so both terms are bits
for the *whole* training set and ``beta = 1`` is the two-part code length itself. ``beta_t``
ramps linearly from 0 to ``beta`` over the first ``warmup_fraction`` of the steps. The step is
`mdl.engine`'s, one jitted update on a fixed-shape batch (one compilation for the run). With
``keep_best`` the returned parameters are those of the evaluation with the smallest total
(hard weights' train data bits + model bits): a prototype run passed through a 36-kbit total
and then collapsed to the empty model.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from tqdm.auto import tqdm

from mdl.codes.data_codes import DataCode, default_data_code
from mdl.codes.data_codes import data_code as as_data_code
from mdl.compress.base import Compressor, float32_baseline
from mdl.data.dataset import Dataset
from mdl.data.shift import check_shift, random_shift
from mdl.engine import init_state, make_epoch, make_step, optimizer_for, warmup_steps_for
from mdl.inference import check_data_code_fits, evaluate
from mdl.params import split_params


class FitResult(NamedTuple):
    """What `fit` returns: the trained model and everything needed to write its file."""

    model: nnx.Module  # the model with the returned params (relaxed weights, not rounded)
    params: Any
    cstate: Any
    history: list[dict]
    compressor: Compressor
    data_code: DataCode

    def hard_model(self) -> nnx.Module:
        """The model running with hard (quantized / pruned) weights: what a file decodes to."""
        graphdef, _ = split_params(self.model)
        return nnx.merge(graphdef, self.compressor.hard(self.params, self.cstate))


def fit(
    model: nnx.Module,
    data: Dataset,
    *,
    compressor: Compressor | None = None,
    cstate=None,
    data_code: DataCode | str | dict | None = None,
    optimizer: optax.GradientTransformation | None = None,
    compressor_optimizer: optax.GradientTransformation | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    beta: float = 1.0,
    warmup_fraction: float = 0.5,
    key: jax.Array | None = None,
    eval_every: int = 1,
    keep_best: bool | str = False,
    augment: int = 0,
    progress: bool = True,
) -> FitResult:
    r"""Train ``model`` on ``data`` to minimize data bits + beta x model bits (see module doc).

    The objective, in bits for the whole training set, is
    $\sum_{i} L(y_i \mid x_i; \theta) + \beta_t \cdot L(\theta)$, with $L(\theta)$ the
    compressor's ``bits`` and $\beta_t$ ramping from 0 to ``beta``; at ``beta = 1`` it is the
    two-part code length.

    Args:
      model: any Flax NNX module whose state is ``nnx.Param``.
      data: a `mdl.data.Dataset` (train and test arrays).
      compressor: how the parameters are described (default: float32, 32 bits each).
      cstate: the compressor's initial state (default: ``compressor.init``).
      data_code: how the targets are coded (default: categorical for one label per example,
        next-token for integer sequences; pass ``discretized_gaussian(bin_width)`` and the like
        for real targets).
      optimizer: moves the model's parameters (default Adam 1e-3).
      compressor_optimizer: moves the compressor's learned state (default: the same
        transformation); give a non-decaying one when ``optimizer`` decays weights
        (`mdl.engine.optimizer_for`).
      epochs: passes over the training set.
      batch_size: examples per step (the remainder of each permutation sits the epoch out).
      beta: the weight on the model's bits.
      warmup_fraction: the fraction of the steps over which $\beta_t$ ramps up.
      key: PRNG key for the compressor's initialization, batch order and training noise
        (default ``jax.random.key(0)``).
      eval_every: epochs between evaluations (history entries).
      keep_best: return the evaluation with the smallest ``total_bits`` (True) or the smallest
        value of the named history field (``"test_data_bits"``: early stopping on the data's
        test split, which for that use should be a validation split carved from the training
        data) instead of the last.
      augment: train on images shifted by up to this many pixels (`mdl.data.random_shift`,
        a new offset per image and step, from the step's key: the same key, the same shifts);
        0: the images as they are. The evaluations (history) never shift.
      progress: show a progress bar.

    Returns:
      A `FitResult`: the model (with trained, relaxed parameters), the parameters, the
      compressor state, a history with, per evaluation: epoch, beta, model_bits (estimate),
      train_data_bits, test_data_bits, train_error, test_error, total_bits (all in bits),
      seconds (the test fields None when ``data``'s test split is empty, as
      `mdl.data.without_test` makes it); and the compressor and data code it trained with.

    References:
      G. E. Hinton and D. van Camp, "Keeping neural networks simple by minimizing the
      description length of the weights", COLT 1993; P. Grunwald, *The Minimum Description
      Length Principle*, 2007.
    """
    fields = ("total_bits", "train_data_bits", "test_data_bits", "train_error", "test_error")
    if not isinstance(keep_best, bool) and keep_best not in fields:
        raise ValueError(f"keep_best must be a bool or one of {fields}; got {keep_best!r}")
    criterion = "total_bits" if keep_best is True else keep_best
    has_test = len(data.y_test) > 0
    if not has_test and criterion in ("test_data_bits", "test_error"):
        raise ValueError(f"keep_best={keep_best!r} needs a test split; data has none")
    if epochs < 1 or eval_every < 1:
        raise ValueError(f"epochs and eval_every must be >= 1; got {epochs}, {eval_every}")
    if beta < 0 or not 0 <= warmup_fraction <= 1:
        raise ValueError(
            f"need beta >= 0 and warmup_fraction in [0, 1]; got {beta}, {warmup_fraction}"
        )
    check_shift(augment, tuple(data.x_train.shape[1:]))  # before any compilation
    compressor = compressor or float32_baseline()
    optimizer = optimizer or optax.adam(1e-3)
    key = jax.random.key(0) if key is None else key
    graphdef, params = split_params(model)
    code = as_data_code(data_code) if data_code is not None else default_data_code(data.y_train)
    check_data_code_fits(graphdef, params, data, code)
    if cstate is None:
        cstate = compressor.init(params, key)
    n_train = len(data.x_train)
    steps_per_epoch = n_train // batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_train} training examples")
    warmup_steps = warmup_steps_for(warmup_fraction, epochs, steps_per_epoch)
    train_optimizer = optimizer_for(compressor, params, cstate, optimizer, compressor_optimizer)
    step = make_step(graphdef, compressor, code, train_optimizer, n_train, warmup_steps)
    # A Python loop of jitted steps, not one lax.scan per epoch: see mdl.engine.make_epoch.
    shift = (lambda k, xb: random_shift(k, xb, augment)) if augment else None
    run_epoch = make_epoch(step, batch_size, scan=False, augment=shift)
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)

    state = init_state(params, cstate, train_optimizer)
    beta_value = jnp.float32(beta)
    history, best = [], None
    start = time.perf_counter()
    epoch_keys = jax.random.split(key, epochs)
    for epoch in tqdm(range(1, epochs + 1), disable=not progress, desc="fit", unit="epoch"):
        state = run_epoch(state, epoch_keys[epoch - 1], x_train, y_train, beta_value)
        jax.block_until_ready(state.step)  # so the progress bar shows compute, not dispatch
        if epoch % eval_every and epoch != epochs:
            continue
        hard = compressor.hard(state.params, state.cstate)
        train_bits, train_error = evaluate(graphdef, hard, data.x_train, data.y_train, code)
        test_bits, test_error = None, None  # an empty test split: nothing is read there
        if has_test:
            test_bits, test_error = evaluate(graphdef, hard, data.x_test, data.y_test, code)
        model_bits = float(compressor.bits(state.params, state.cstate))
        ramp = min(1.0, float(state.step) / warmup_steps) if warmup_steps else 1.0
        record = {
            "epoch": epoch,
            "beta": float(beta * ramp),
            "model_bits": model_bits,
            "train_data_bits": train_bits,
            "test_data_bits": test_bits,
            "train_error": train_error,
            "test_error": test_error,
            "total_bits": model_bits + train_bits,
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        if best is None or not keep_best or record[criterion] <= best[0]:
            best = (record[criterion] if keep_best else None, state)
    params, cstate = best[1].params, best[1].cstate
    return FitResult(nnx.merge(graphdef, params), params, cstate, history, compressor, code)
