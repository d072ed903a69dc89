"""Every compressor keeps the protocol's promises: the estimate is the file, decoding gives the
hard weights, ``apply`` needs a key, schedules move only through ``advance``, and the optimizer
split keeps the compressor's state out of the model optimizer's reach."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import assume, given, settings

from mdl.compress import (
    chain,
    hard_concrete,
    learned_bit_width,
    leaves_with_paths,
    magnitude,
    make_optimizer,
    optimizer_labels,
    quantizer,
    split_params,
)
from mdl.compress.base import LEARNED, SCHEDULE
from mdl.data import load
from mdl.models import MLP
from mdl.testing import (
    assert_estimate_is_file,
    assert_file_decodes_to_hard,
    compressor_kinds,
    compressors,
    make_compressor,
    param_pytrees,
    selectable,
)

# Fixed shapes (each compressor compiles once): two selected matrices, a selected vector and an
# unselected scalar-like leaf that stays float32.
FIXED_SHAPES = {"dense": {"kernel": (24, 8), "bias": (8,)}, "out": {"kernel": (8, 3)}, "gain": (1,)}


def fixed_params(seed: int = 0):
    """Laplace weights with about 30% exact zeros (what pruning and spike priors meet)."""
    rng = np.random.default_rng(seed)

    def leaf(shape):
        values = rng.laplace(0.0, 0.5, size=shape) * (rng.random(shape) >= 0.3)
        return jnp.asarray(values, jnp.float32)

    return jax.tree.map(leaf, FIXED_SHAPES, is_leaf=lambda x: isinstance(x, tuple))


def check_protocol(params, compressor, cstate):
    """The estimate is the file and the file decodes to the hard weights."""
    estimate, real = assert_estimate_is_file(compressor, params, cstate)
    assert_file_decodes_to_hard(compressor, params, cstate)
    return estimate, real


def perturb_learned(compressor, cstate, seed: int):
    """``cstate`` with N(0, 1) added to every learned leaf: a state training could reach."""
    rng = np.random.default_rng(seed)

    def move(value, label):
        if label != LEARNED:
            return value
        return value + jnp.asarray(rng.normal(size=np.shape(value)), jnp.float32)

    return jax.tree.map(move, cstate, compressor.labels(cstate))


def _settings(kind: str) -> list[dict]:
    if kind.split("+")[-1].startswith(("quantizer", "live_block")) or kind == "bit_width":
        return [{"groups": 1}, {"groups": 2}]
    if kind.startswith("hard_concrete"):
        return [{"structured": False}, {"structured": True}]
    return [{}]


CASES = [
    pytest.param(kind, options, id=f"{kind}-{'-'.join(f'{k}={v}' for k, v in options.items())}")
    for kind in compressor_kinds()
    for options in _settings(kind)
]


@pytest.mark.parametrize("kind, options", CASES)
def test_every_compressor_estimate_is_its_file(kind, options):
    params = fixed_params()
    compressor = make_compressor(kind, **options)
    cstate = compressor.init(params, jax.random.key(0))
    check_protocol(params, compressor, cstate)
    check_protocol(params, compressor, perturb_learned(compressor, cstate, seed=1))
    # The relaxed weights have the parameters' structure.
    relaxed = jax.jit(compressor.apply)(params, cstate, jax.random.key(1))
    assert jax.tree.structure(relaxed) == jax.tree.structure(params)


# One kind per compressor (the quantizer and the chains with the spike-and-slab prior).
FAMILIES = [k for k in compressor_kinds() if k.rpartition("/")[2] in (k, "spike_laplace")]


@pytest.mark.parametrize("kind", FAMILIES)
def test_gradients_reach_the_whole_state_and_schedules_get_none(kind):
    params = fixed_params()
    compressor = make_compressor(kind)
    cstate = compressor.init(params)

    def loss(trainable):
        p, c = trainable
        relaxed = compressor.apply(p, c, jax.random.key(0))
        return sum(jnp.sum(w**2) for w in jax.tree.leaves(relaxed)) + compressor.bits(p, c)

    _, grads = jax.jit(jax.grad(loss))((params, cstate))
    labels = compressor.labels(cstate)
    assert jax.tree.structure(grads) == jax.tree.structure(cstate)
    for grad, label in zip(jax.tree.leaves(grads), jax.tree.leaves(labels), strict=True):
        assert label in (LEARNED, SCHEDULE)
        assert np.all(np.isfinite(np.asarray(grad)))
        if label == SCHEDULE:
            assert not np.any(np.asarray(grad))


# Random shapes and structures (every compressor x prior at fixed shapes is parametrized above).
@settings(max_examples=5)
@given(named=compressors(), tree=param_pytrees(max_leaves=3, max_depth=1))
def test_every_compressor_estimate_is_its_file_on_random_pytrees(named, tree):
    _, compressor = named
    assume(any(selectable(path, leaf) for path, leaf in leaves_with_paths(tree)))
    params = jax.tree.map(jnp.asarray, tree)
    check_protocol(params, compressor, compressor.init(params, jax.random.key(0)))


def test_apply_without_a_key_is_refused_and_names_hard():
    params = fixed_params()
    for compressor in (quantizer(), chain(magnitude(), quantizer()), make_compressor("float32")):
        cstate = compressor.init(params)
        with pytest.raises(TypeError, match=r"needs a PRNG key.*compressor\.hard"):
            compressor.apply(params, cstate, None)
        with pytest.raises(TypeError):
            compressor.apply(params, cstate)  # the key is a required argument


def test_magnitude_schedule_lives_in_the_state_and_advances_by_one_step():
    params = fixed_params()
    schedule = lambda t: jnp.minimum(0.1 * t, 0.8)  # noqa: E731
    pruner = magnitude(selectable, schedule=schedule)
    compressor = chain(pruner, quantizer(selectable))
    cstate = compressor.init(params)
    labels = compressor.labels(cstate)
    assert all(label == SCHEDULE for label in jax.tree.leaves(labels[0]))
    assert all(label == LEARNED for label in jax.tree.leaves(labels[1]))
    advance = jax.jit(compressor.advance)
    for t in range(1, 6):
        cstate = advance(cstate)
        for state in cstate[0].values():
            assert state.count.dtype == jnp.float32 and float(state.count) == t
            assert float(state.sparsity) == pytest.approx(min(0.1 * t, 0.8))
    hard = pruner.hard(params, cstate[0])
    w = np.asarray(hard["dense"]["kernel"])
    assert np.mean(w == 0) == pytest.approx(0.5, abs=1 / w.size)
    # Compressors without schedules advance by the identity.
    q = quantizer()
    qstate = q.init(params)
    assert q.advance(qstate) is qstate


def test_make_optimizer_never_decays_or_moves_the_compressor_state():
    """optax.adamw on the model; the compressor's learned state gets its own optimizer and the
    schedule leaves none, so a zero gradient leaves steps, scales and counters untouched."""
    params = fixed_params()
    compressor = chain(magnitude(selectable, schedule=0.5), quantizer(selectable))
    cstate = compressor.init(params)
    model_labels, state_labels = optimizer_labels(params, compressor, cstate)
    assert set(jax.tree.leaves(model_labels)) == {"model"}
    assert jax.tree.structure(state_labels) == jax.tree.structure(compressor.labels(cstate))
    optimizer = make_optimizer(
        compressor, cstate, params, optax.adamw(1e-1, weight_decay=0.5), optax.adam(1e-1)
    )
    trainable = (params, cstate)
    opt_state = optimizer.init(trainable)
    zeros = jax.tree.map(jnp.zeros_like, trainable)
    updates, _ = optimizer.update(zeros, opt_state, trainable)
    new_params, new_cstate = optax.apply_updates(trainable, updates)
    for before, after in zip(jax.tree.leaves(cstate), jax.tree.leaves(new_cstate), strict=True):
        np.testing.assert_array_equal(before, after)
    kernel, decayed = params["dense"]["kernel"], new_params["dense"]["kernel"]
    np.testing.assert_allclose(decayed, kernel * (1 - 0.1 * 0.5), rtol=1e-6)  # weight decay
    # A real gradient moves learned state, never schedule state.
    grads = jax.tree.map(jnp.ones_like, trainable)
    updates, _ = optimizer.update(grads, opt_state, trainable)
    _, moved = optax.apply_updates(trainable, updates)
    for label, before, after in zip(
        jax.tree.leaves(compressor.labels(cstate)),
        jax.tree.leaves(cstate),
        jax.tree.leaves(moved),
        strict=True,
    ):
        assert np.array_equal(before, after) == (label == SCHEDULE)


def test_make_optimizer_accepts_nnx_parameter_states():
    _, params = split_params(MLP([6, 4, 3], rngs=nnx.Rngs(0)))
    compressor = quantizer()
    cstate = compressor.init(params)
    optimizer = make_optimizer(compressor, cstate, params, optax.sgd(0.1), optax.sgd(0.1))
    trainable = (params, cstate)
    updates, _ = optimizer.update(
        jax.tree.map(jnp.ones_like, trainable), optimizer.init(trainable), trainable
    )
    new_params, _ = optax.apply_updates(trainable, updates)
    assert jax.tree.structure(new_params) == jax.tree.structure(params)


def test_learned_bit_widths_shrink_as_model_bits_weigh_more():
    from mdl.train import fit

    data = load("digits")
    widths = {}
    for beta in (0.01, 1.0):
        compressor = learned_bit_width(groups=4)
        result = fit(
            MLP([64, 32, 10], rngs=nnx.Rngs(0)),
            data,
            compressor=compressor,
            optimizer=optax.adam(1e-2),
            epochs=8,
            batch_size=64,
            beta=beta,
            progress=False,
        )
        widths[beta] = np.mean(
            [2 + 6 * jax.nn.sigmoid(s.bit_logit) for s in result.cstate.values()]
        )
        _, params = split_params(result.model)
        check_protocol(params, compressor, result.cstate)
    assert widths[1.0] < widths[0.01] - 0.5


def test_per_group_steps_are_learned_separately():
    from mdl.train import fit

    data = load("digits")
    compressor = quantizer(step_groups=4)
    result = fit(
        MLP([64, 32, 10], rngs=nnx.Rngs(0)),
        data,
        compressor=compressor,
        optimizer=optax.adam(3e-3),
        epochs=3,
        batch_size=64,
        beta=0.3,
        progress=False,
    )
    steps = np.exp(np.asarray(result.cstate["layers/0/kernel"].log_step))
    assert steps.shape == (4,) and len(set(steps.tolist())) == 4
    _, params = split_params(result.model)
    check_protocol(params, compressor, result.cstate)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"bits_range": (0, 8)}, "bits_range must be whole numbers 2 <= b_min < b_max <= 16"),
        ({"bits_range": (-2, 4)}, "bits_range must be whole numbers"),
        ({"bits_range": (2, 32)}, "bits_range must be whole numbers"),
        ({"init_bits": 9.0}, "init_bits must lie strictly inside"),
        ({"groups": 0}, "groups must be a positive integer"),
    ],
)
def test_bit_widths_outside_their_range_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        learned_bit_width(**options)


def test_more_groups_than_units_is_refused():
    with pytest.raises(ValueError, match="fewer than groups=8 units"):
        learned_bit_width(groups=8).init({"w": jnp.ones((3, 4))})
    with pytest.raises(ValueError, match="fewer than step_groups=8 units"):
        quantizer(step_groups=8).init({"w": jnp.ones((3, 4))})
    with pytest.raises(ValueError, match="structured gates need tensors with an output axis"):
        hard_concrete(".*", structured=True).init({"w": jnp.float32(1.0)})


def test_kmeans_centroids_are_a_lloyd_fixed_point():
    from mdl.compress.share import kmeans_centroids

    values = np.random.default_rng(0).normal(size=500)
    centers = kmeans_centroids(values, 5, iterations=100).astype(np.float64)
    assignment = np.argmin(np.abs(values[:, None] - centers[None]), axis=1)
    for c in range(5):  # each center is the mean of the values nearest to it
        assert centers[c] == pytest.approx(values[assignment == c].mean(), rel=1e-5)
    assert np.all(np.diff(centers) > 0)


def test_kmeans_fine_tuning_and_variational_dropout_keep_the_protocol():
    from mdl.compress import kmeans, sparse_variational_dropout
    from mdl.train import fit

    data = load("digits")
    trained = fit(
        MLP([64, 32, 10], rngs=nnx.Rngs(0)),
        data,
        optimizer=optax.adam(3e-3),
        epochs=5,
        batch_size=64,
        progress=False,
    )
    shared = kmeans(clusters=8)
    tuned = fit(
        trained.model,
        data,
        compressor=shared,
        optimizer=optax.adam(1e-3),
        epochs=1,
        batch_size=64,
        beta=1.0,
        progress=False,
    )
    _, params = split_params(tuned.model)
    for path, w in leaves_with_paths(shared.hard(params, tuned.cstate)):
        if path in tuned.cstate:
            assert len(np.unique(np.asarray(w))) <= 8
    check_protocol(params, shared, tuned.cstate)

    dropout = sparse_variational_dropout()
    result = fit(
        MLP([64, 32, 10], rngs=nnx.Rngs(0)),
        data,
        compressor=dropout,
        optimizer=optax.adam(1e-2),
        epochs=8,
        batch_size=64,
        beta=1.0,
        progress=False,
    )
    _, params = split_params(result.model)
    hard = dropout.hard(params, result.cstate)
    zeros = np.mean(
        [np.mean(np.asarray(w) == 0) for p, w in leaves_with_paths(hard) if p in result.cstate]
    )
    assert zeros > 0.2  # the KL term pushed alpha past the threshold for many weights
    check_protocol(params, dropout, result.cstate)
    with pytest.raises(ValueError, match="clusters must be an integer in"):
        kmeans(clusters=1)
    with pytest.raises(ValueError, match="threshold must be finite"):
        sparse_variational_dropout(threshold=float("inf"))
