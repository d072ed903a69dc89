"""The training core: lanes are independent, frozen lanes stay put, scan equals the loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from mdl.codes.data_codes import categorical
from mdl.compress import quantizer
from mdl.data import load
from mdl.engine import (
    init_state,
    make_epoch,
    make_points_epoch,
    make_step,
    optimizer_for,
    warmup_steps_for,
)
from mdl.models import MLP
from mdl.params import split_params

BATCH = 64


@pytest.fixture(scope="module")
def setup():
    data = load("digits")
    x, y = jnp.asarray(data.x_train[:512]), jnp.asarray(data.y_train[:512])
    compressor = quantizer()
    graphdef, params = split_params(MLP([64, 16, 10], rngs=nnx.Rngs(0)))
    cstate = compressor.init(params, jax.random.key(0))
    optimizer = optimizer_for(compressor, params, cstate, optax.adam(3e-3))
    step = make_step(graphdef, compressor, categorical(), optimizer, len(x), 10.0)
    states = [init_state(*_fresh(compressor, seed), optimizer) for seed in range(3)]
    return x, y, step, states


def _fresh(compressor, seed):
    _, params = split_params(MLP([64, 16, 10], rngs=nnx.Rngs(seed)))
    return params, compressor.init(params, jax.random.key(seed))


def _stack(trees):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _close(a, b, **tolerance):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), **tolerance)


def test_a_lane_trains_as_if_alone_and_frozen_lanes_keep_their_state(setup):
    x, y, step, states = setup
    keys = jnp.stack([jax.random.key(10 + i) for i in range(3)])
    betas = jnp.asarray([0.1, 1.0, 3.0], jnp.float32)
    active = jnp.asarray([True, False, True])
    epoch = make_points_epoch(step, BATCH)
    after = epoch(_stack(states), keys, betas, active, x, y)
    single = jax.jit(make_epoch(step, BATCH, scan=True))
    for lane in (0, 2):
        alone = single(states[lane], keys[lane], x, y, betas[lane])
        _close(jax.tree.map(lambda leaf, i=lane: leaf[i], after), alone, rtol=1e-5, atol=1e-6)
    frozen = jax.tree.map(lambda leaf: leaf[1], after)
    _close(frozen, states[1], rtol=0, atol=0)
    assert float(after.step[0]) == 512 // BATCH and float(after.step[1]) == 0


def test_the_scanned_epoch_equals_the_python_loop(setup):
    x, y, step, states = setup
    key = jax.random.key(5)
    scanned = jax.jit(make_epoch(step, BATCH, scan=True))(states[0], key, x, y, 1.0)
    looped = make_epoch(step, BATCH, scan=False)(states[0], key, x, y, jnp.float32(1.0))
    _close(scanned, looped, rtol=1e-5, atol=1e-6)
    points = make_points_epoch(step, BATCH, scan=False)
    lanes = points(
        _stack(states[:2]),
        jnp.stack([key, key]),
        jnp.ones(2, jnp.float32),
        jnp.ones(2, bool),
        x,
        y,
    )
    _close(jax.tree.map(lambda leaf: leaf[0], lanes), scanned, rtol=1e-5, atol=1e-6)


def test_warmup_and_schedule_labels():
    assert warmup_steps_for(0.0, 10, 100) == 0.0
    assert warmup_steps_for(0.5, 10, 100) == 500.0
    assert warmup_steps_for(1e-9, 1, 1) == 1.0


def test_adamw_on_the_model_never_decays_the_compressor_state():
    """With zero gradients, only weight decay moves anything: the model's weights shrink and
    the quantizer's learned steps and prior scales must not."""
    compressor = quantizer()
    _, params = split_params(MLP([4, 3, 2], rngs=nnx.Rngs(0)))
    cstate = compressor.init(params, jax.random.key(0))
    optimizer = optimizer_for(
        compressor, params, cstate, optax.adamw(0.1, weight_decay=0.5), optax.adam(0.1)
    )
    trainable = (params, cstate)
    zeros = jax.tree.map(jnp.zeros_like, trainable)
    updates, _ = optimizer.update(zeros, optimizer.init(trainable), trainable)
    new_params, new_cstate = optax.apply_updates(trainable, updates)
    _close(new_cstate, cstate, rtol=0, atol=0)
    kernel = [leaf for leaf in jax.tree.leaves(new_params) if np.ndim(leaf) == 2][0]
    original = [leaf for leaf in jax.tree.leaves(params) if np.ndim(leaf) == 2][0]
    assert np.all(np.abs(np.asarray(kernel)) < np.abs(np.asarray(original)) + 1e-12)
    assert not np.allclose(np.asarray(kernel), np.asarray(original))
