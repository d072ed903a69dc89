"""The character model of the text codes: one compiled prediction step, one training step.

The model is `mdl.models.CharRNN` (embedding, one GRU layer, linear head) over the text's
alphabet. Two compiled functions do everything the encoder and the decoder compute:

* ``predict(params, carry, inputs) -> (carry, probs)``: one step of every stream, the
  probabilities of the next symbol (float32 softmax, handed to the coder as float64). The
  encoder and the decoder call this same function with the same arguments, which is what makes
  decoding exact: XLA runs the same program on the same values (same machine type and library
  versions, which the archive records and checks).
* ``train(state, carry, inputs, targets, mask, key) -> (state, carry, bits)``: one optax
  update on a window of ``T`` steps of every stream (truncated backpropagation through time,
  the hidden state carried in from the previous window), minimizing
  ``data bits + beta x model bits`` through a compressor (`mdl.compress`), the description
  length loss of `mdl.engine` with a carried hidden state. `mdl.engine.make_step` cannot
  serve here: its step returns only the training state, and a window's final hidden state is
  the next window's start.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from mdl.compress.base import Compressor
from mdl.engine import TrainState, init_state, optimizer_for
from mdl.models import CharRNN
from mdl.params import split_params


class ModelSpec(NamedTuple):
    """The character model's shape: alphabet size, embedding width, GRU width, and the seed
    its initial weights are drawn from (the online code transmits no weights, only this)."""

    vocab: int
    embed_dim: int = 32
    hidden: int = 256
    seed: int = 0

    def build(self) -> CharRNN:
        return CharRNN(
            self.vocab, embed_dim=self.embed_dim, hidden=self.hidden, rngs=nnx.Rngs(self.seed)
        )


def _step(model: CharRNN, carry, inputs):
    carry, hidden = model.rnn.cell(carry, model.embed(inputs))
    return carry, model.head(hidden)


@functools.cache
def make_predict(graphdef):
    """``predict(params, carry [B, H], inputs [B]) -> (carry, probs [B, V])``, jitted (one
    function per model structure, so it compiles once per shape in a process)."""

    @jax.jit
    def predict(params, carry, inputs):
        carry, logits = _step(nnx.merge(graphdef, params), carry, inputs)
        return carry, jax.nn.softmax(logits.astype(jnp.float32), axis=-1)

    return predict


def window_logits(model: CharRNN, carry, inputs):
    """``(final carry, logits [B, T, V])`` of ``T`` steps of every stream from ``carry``."""

    def body(carry, column):
        return _step(model, carry, column)

    carry, logits = jax.lax.scan(body, carry, jnp.swapaxes(inputs, 0, 1))
    return carry, jnp.swapaxes(logits, 0, 1)


def make_train(
    graphdef,
    compressor: Compressor,
    optimizer: optax.GradientTransformation,
    beta: float,
    n_symbols: int,
):
    """``train(state, carry, inputs [B, T], targets [B, T], mask [B, T], key) -> (state,
    carry, data_bits)``, jitted: one update of ``n_symbols x (mean bits per masked symbol)
    + beta x compressor.bits`` (the two-part code's length estimated on a window; ``beta = 0``
    and the identity compressor give plain maximum likelihood, as the online code trains)."""

    def loss(params, cstate, carry, inputs, targets, mask, key):
        model = nnx.merge(graphdef, compressor.apply(params, cstate, key))
        carry, logits = window_logits(model, carry, inputs)
        nats = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
        count = jnp.maximum(mask.sum(), 1)
        data_bits = jnp.where(mask, nats, 0.0).sum() / count / math.log(2)
        total = n_symbols * data_bits
        if beta:
            total = total + beta * compressor.bits(params, cstate)
        return total, (carry, data_bits * count)

    @jax.jit
    def train(state: TrainState, carry, inputs, targets, mask, key):
        grads, (carry, bits) = jax.grad(loss, argnums=(0, 1), has_aux=True)(
            state.params, state.cstate, carry, inputs, targets, mask, key
        )
        trainable = (state.params, state.cstate)
        updates, opt_state = optimizer.update(grads, state.opt_state, trainable)
        params, cstate = optax.apply_updates(trainable, updates)
        return (
            TrainState(params, compressor.advance(cstate), opt_state, state.step + 1),
            carry,
            bits,
        )

    return train


def initial_state(
    spec: ModelSpec, compressor: Compressor, optimizer: optax.GradientTransformation
) -> tuple[Any, TrainState, optax.GradientTransformation]:
    """``(graphdef, state, optimizer)`` of the model ``spec`` builds, ``compressor`` initialized
    from the seed, and ``optimizer`` split as `mdl.engine.optimizer_for` splits it."""
    graphdef, params = split_params(spec.build())
    cstate = compressor.init(params, jax.random.key(spec.seed))
    optimizer = optimizer_for(compressor, params, cstate, optimizer)
    return graphdef, init_state(params, cstate, optimizer), optimizer
