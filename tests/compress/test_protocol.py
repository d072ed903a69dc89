"""Every compressor keeps the protocol's promises: the estimate is the file, decoding is exact."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings

from mdl.codec import container
from mdl.codec.model import GroupedLeaf, QuantizedLeaf, RawLeaf, decode_model, encode_model
from mdl.compress import learned_bit_width, leaves_with_paths, quantizer, split_params
from mdl.data import load
from mdl.models import MLP
from mdl.testing import compressors, param_pytrees
from mdl.train import fit


def fixed_bits(data: bytes, leaves: dict) -> int:
    """The file's fixed part: framing, metadata, and per coded tensor the rANS sentinel and final
    state (96 bits)."""
    sections = container.unpack(data, "MODL")
    framing = len(data) - sum(len(v) for v in sections.values())
    coded = sum(not isinstance(leaf, RawLeaf) for leaf in leaves.values())
    return 8 * (framing + len(sections["META"]) + len(sections.get("ARCH", b""))) + 96 * coded


def costliest_bin_bits(leaf) -> float:
    """The most expensive bin under the leaf's priors (the coder floors probabilities at 2^-24,
    so bins dearer than that cost less in the file than in the estimate)."""
    if isinstance(leaf, QuantizedLeaf):
        return float(np.max(np.asarray(leaf.prior.bits(leaf.symbols))))
    if isinstance(leaf, GroupedLeaf):
        return max(float(np.max(np.asarray(p.bits(leaf.symbols)))) for p in leaf.priors)
    return 0.0


def check_protocol(params, compressor, cstate):
    estimate = float(compressor.bits(params, cstate))
    leaves = compressor.finalize(params, cstate)
    data = encode_model(leaves)
    real, fixed = 8 * len(data), fixed_bits(data, leaves)
    assert real <= 1.01 * estimate + fixed
    if max((costliest_bin_bits(leaf) for leaf in leaves.values()), default=0.0) <= 20:
        assert real >= 0.99 * estimate - fixed
    decoded, _ = decode_model(data)
    for path, leaf in leaves_with_paths(compressor.apply(params, cstate, None)):
        np.testing.assert_array_equal(decoded[path], np.asarray(leaf, np.float32), err_msg=path)


@settings(max_examples=8)
@given(named=compressors(), tree=param_pytrees())
def test_every_compressor_estimate_is_its_file_and_decodes_exactly(named, tree):
    _, compressor = named
    params = jax.tree.map(jnp.asarray, tree)
    try:
        cstate = compressor.init(params, jax.random.key(0))
    except ValueError as error:
        assert "matches no parameter" in str(error)
        return
    check_protocol(params, compressor, cstate)


def test_learned_bit_widths_shrink_as_model_bits_weigh_more():
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
    for path, w in leaves_with_paths(shared.apply(params, tuned.cstate)):
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
    hard = dropout.apply(params, result.cstate)
    zeros = np.mean(
        [np.mean(np.asarray(w) == 0) for p, w in leaves_with_paths(hard) if p in result.cstate]
    )
    assert zeros > 0.2  # the KL term pushed alpha past the threshold for many weights
    check_protocol(params, dropout, result.cstate)
    with pytest.raises(ValueError, match="clusters must be an integer in"):
        kmeans(clusters=1)
    with pytest.raises(ValueError, match="threshold must be finite"):
        sparse_variational_dropout(threshold=float("inf"))
