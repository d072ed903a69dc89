"""Pruners and chains: the estimate is the file, zeros are paid for, schedules follow the paper."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mdl.codec import CodecError
from mdl.codec.model import SparseLeaf, decode_model, encode_model
from mdl.compress import (
    chain,
    hard_concrete,
    leaves_with_paths,
    load_compressed,
    magnitude,
    polynomial_decay_sparsity,
    quantizer,
    save_compressed,
    split_params,
)
from mdl.data import load
from mdl.models import MLP
from mdl.testing import assert_estimate_is_file, assert_file_decodes_to_hard, param_pytrees


def binary_entropy_bits(k, n):  # independent: n h2(k/n)
    if k in (0, n):
        return 0.0
    r = k / n
    return -n * (r * math.log2(r) + (1 - r) * math.log2(1 - r))


def check_sparse_estimate(params, compressor, cstate):
    """A pruner's bits() is n h2(k/n) + 32 k + 32 per selected tensor plus 32 per other
    scalar, at the hard weights; the file holds that and its header; decoding is exact."""
    hard = compressor.hard(params, cstate)
    expected = 0.0
    for path, w in leaves_with_paths(hard):
        w = np.asarray(w)
        if path in cstate:
            k, n = int(np.count_nonzero(w)), w.size
            expected += binary_entropy_bits(k, n) + 32 * k + 32
        else:
            expected += 32 * w.size
    estimate, _ = assert_estimate_is_file(compressor, params, cstate)
    assert estimate == pytest.approx(expected, rel=1e-4, abs=0.5)
    assert_file_decodes_to_hard(compressor, params, cstate)


def shut_every_other_gate(cstate):
    """Gates pushed shut at every other position, so the pattern is not all-kept."""
    return {
        p: s._replace(
            log_alpha=s.log_alpha
            - 6.0 * (jnp.arange(s.log_alpha.size) % 2).reshape(s.log_alpha.shape)
        )
        for p, s in cstate.items()
    }


def prunable(path, leaf):
    return np.ndim(leaf) >= 1 and np.size(leaf) >= 2


@settings(max_examples=3)
@given(
    tree=param_pytrees(max_leaves=3, max_depth=1),
    sparsity=st.floats(0.0, 0.95),
    structured=st.booleans(),
)
def test_pruners_estimate_is_the_file_on_random_pytrees(tree, sparsity, structured):
    assume(any(prunable(path, leaf) for path, leaf in leaves_with_paths(tree)))
    params = jax.tree.map(jnp.asarray, tree)
    mag = magnitude(prunable, schedule=sparsity)
    check_sparse_estimate(params, mag, mag.init(params))
    gates = hard_concrete(prunable, structured=structured)
    check_sparse_estimate(params, gates, shut_every_other_gate(gates.init(params)))


def test_magnitude_zeroes_exactly_the_smallest_fraction():
    w = jnp.asarray(np.random.default_rng(0).normal(size=(10, 20)), jnp.float32)
    pruner = magnitude(schedule=0.3)
    cstate = pruner.init({"w": w})
    out = np.asarray(pruner.hard({"w": w}, cstate)["w"])
    assert np.count_nonzero(out == 0) == 60
    kept_min = np.abs(out[out != 0]).min()
    assert kept_min >= np.sort(np.abs(np.asarray(w)).ravel())[59]


def test_polynomial_decay_matches_zhu_and_gupta():
    schedule = polynomial_decay_sparsity(0.1, 0.9, begin_step=100, end_step=1100, power=3)
    for step in (0, 100, 350, 600, 1100, 5000):
        t = min(max((step - 100) / 1000, 0), 1)
        assert float(schedule(step)) == pytest.approx(0.9 + (0.1 - 0.9) * (1 - t) ** 3, abs=1e-6)
    with pytest.raises(ValueError, match="begin_step < end_step"):
        polynomial_decay_sparsity(0.1, 0.9, 10, 10)
    with pytest.raises(ValueError, match=r"final sparsity must be in \[0, 1\)"):
        polynomial_decay_sparsity(0.1, 1.5, 0, 10)


def test_training_follows_the_schedule_and_the_chain_writes_a_loadable_file(tmp_path):
    from mdl.train import fit

    data = load("digits")
    steps_per_epoch = len(data.x_train) // 64
    pruner = magnitude(schedule=polynomial_decay_sparsity(0.0, 0.8, 0, 3 * steps_per_epoch))
    compressor = chain(pruner, quantizer())
    result = fit(
        MLP([64, 32, 10], rngs=nnx.Rngs(0)),
        data,
        compressor=compressor,
        optimizer=optax.adam(3e-3),
        epochs=4,
        batch_size=64,
        beta=0.3,
        progress=False,
    )
    pruned = pruner.hard(result.params, result.cstate[0])
    for path, w in leaves_with_paths(pruned):
        if path in result.cstate[0]:
            assert float(result.cstate[0][path].count) == 4 * steps_per_epoch  # advanced each step
            assert np.mean(np.asarray(w) == 0) == pytest.approx(0.8, abs=0.01), path
    _, params = split_params(result.model)
    assert_estimate_is_file(compressor, params, result.cstate)
    size = save_compressed(tmp_path / "m.mdl", result.model, compressor, result.cstate)
    loaded = load_compressed(tmp_path / "m.mdl")
    _, weights = split_params(loaded)
    hard = compressor.hard(params, result.cstate)
    for (path, a), (_, b) in zip(leaves_with_paths(weights), leaves_with_paths(hard), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)
    assert size > 0


def test_l0_gates_learn_to_prune_under_pressure():
    from mdl.train import fit

    data = load("digits")
    gates = hard_concrete(init_keep=0.6)
    result = fit(
        MLP([64, 32, 10], rngs=nnx.Rngs(0)),
        data,
        compressor=gates,
        optimizer=optax.adam(2e-2),
        epochs=6,
        batch_size=64,
        beta=1.0,
        progress=False,
    )
    _, params = split_params(result.model)
    hard = gates.hard(params, result.cstate)
    kept = np.mean(
        [np.mean(np.asarray(w) != 0) for p, w in leaves_with_paths(hard) if p in result.cstate]
    )
    assert kept < 0.5  # the L0 penalty shut most gates
    check_sparse_estimate(params, gates, result.cstate)


def test_sparse_leaf_files_refuse_corruption():
    values = np.zeros(100, np.float32)
    values[::7] = 1.5
    data = encode_model({"w": SparseLeaf(values)})
    decoded, _ = decode_model(data)
    np.testing.assert_array_equal(decoded["w"], values)
    with pytest.raises(CodecError):
        decode_model(data[:-5])
    with pytest.raises(ValueError, match="NaN"):
        encode_model({"w": SparseLeaf(np.array([np.nan], np.float32))})


def test_bad_pruner_arguments_are_named():
    with pytest.raises(ValueError, match="init_keep must be in"):
        hard_concrete(init_keep=1.0)
    with pytest.raises(ValueError, match="gamma < 0 and zeta > 1"):
        hard_concrete(limits=(0.1, 1.1))
    with pytest.raises(ValueError, match=r"sparsity sparsity must be in \[0, 1\)"):
        magnitude(schedule=-0.1)
    with pytest.raises(TypeError, match="chain needs"):
        chain()
    with pytest.raises(ValueError, match="matches no parameter"):
        magnitude("nothing-here").init({"w": jnp.ones((2, 2))})


def test_gates_pass_gradients_to_weights_at_exactly_zero():
    """A sparse delta starts at exactly zero: the gated weights must still get the gradient
    (the gate's value), or they could never grow. The old subnormal flush (a ``where``) gave
    them none."""
    gates = hard_concrete(lambda path, w: True)
    zeros = {"w": jnp.zeros((4, 3))}
    state = gates.init(zeros)
    weights = jnp.arange(12.0).reshape(4, 3)
    grad = jax.grad(lambda p: jnp.sum(gates.apply(p, state, jax.random.key(0))["w"] * weights))(
        zeros
    )["w"]
    sampled = gates.apply({"w": jnp.ones((4, 3))}, state, jax.random.key(0))["w"]
    assert np.allclose(grad, sampled * weights)  # d(g w)/dw = g, at w = 0 too
    assert np.count_nonzero(grad) > 0
