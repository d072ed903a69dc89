"""The Gaussian posterior compressor: bits is the closed-form KL at the optimal prior scale,
apply samples N(mu, sigma^2), hard is the mean, log sigma is learned, and no file is written."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mdl.codes.data_codes import categorical
from mdl.compress import (
    GaussianPosteriorState,
    gaussian_posterior,
    leaves_with_paths,
    make_optimizer,
    save_compressed,
)
from mdl.compress.base import LEARNED
from mdl.compress.files import encode_compressed
from mdl.engine import description_length_loss
from mdl.models import MLP
from mdl.params import split_params


def reference_bits(mu: dict, log_sigma: dict, unselected_scalars: int) -> tuple[float, float]:
    """``(bits, scale)``: the textbook KL(N(mu, sigma^2) || N(0, v)) in float64 (not the
    simplified form the library uses), v = mean(mu^2 + sigma^2) per tensor, plus 32 bits per
    tensor and per unselected scalar; ``scale`` bounds the magnitudes summed (for float32
    rounding)."""
    total, scale = 0.0, 0.0
    for path, m in mu.items():
        m = m.astype(np.float64)
        var = np.exp(2.0 * log_sigma[path].astype(np.float64))
        v = np.mean(m**2 + var)
        total += 0.5 * np.sum(var / v + m**2 / v - 1.0 - np.log(var / v)) / math.log(2) + 32
        scale += np.sum(np.abs(np.log(v)) + np.abs(np.log(var))) / math.log(2) + 1
    return total + 32 * unselected_scalars, scale


# A few shapes, so that eager ops compile once per shape and the examples explore values.
SHAPES = ((1,), (7,), (4, 5), (2, 3, 4))


def arrays(shape, low, high):
    return hnp.arrays(np.float32, shape, elements=st.floats(low, high, width=32))


@st.composite
def weight_trees(draw):
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))
    return {f"layer{i}": draw(arrays(shape, -10, 10)) for i, shape in enumerate(shapes)}


@settings(max_examples=40)
@given(tree=weight_trees(), data=st.data())
def test_bits_is_the_kl_to_the_optimal_gaussian_prior_plus_its_scales(tree, data):
    params = {"model": tree, "gain": np.ones(3, np.float32)}  # "gain" stays unselected
    compressor = gaussian_posterior(select="^model/")
    cstate = compressor.init(params)
    mu = {p: np.asarray(w) for p, w in leaves_with_paths(params) if p in cstate}
    log_sigma = {p: data.draw(arrays(w.shape, -8, 3)) for p, w in mu.items()}
    cstate = {p: GaussianPosteriorState(jnp.asarray(v)) for p, v in log_sigma.items()}
    expected, scale = reference_bits(mu, log_sigma, unselected_scalars=3)
    got = float(compressor.bits(params, cstate))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-5 * scale)


def two_leaf_params():
    rng = np.random.default_rng(0)
    params = {
        "a": {"kernel": jnp.asarray(rng.normal(0, 3, (6, 5)), jnp.float32)},
        "b": {"kernel": jnp.asarray(rng.normal(0, 3, (6, 5)), jnp.float32)},
        "bias": jnp.asarray(rng.normal(size=5), jnp.float32),  # ndim 1: not selected
    }
    # Widths far from 1 (e^-1.5 and e^0.8): sampling with sigma^2, or with a unit width,
    # would miss the variance test below by a factor of e^1.6 at least.
    widths = {p: np.where(rng.random((6, 5)) < 0.5, -1.5, 0.8) for p in ("a/kernel", "b/kernel")}
    cstate = {p: GaussianPosteriorState(jnp.asarray(v, jnp.float32)) for p, v in widths.items()}
    return params, cstate


def test_apply_samples_the_posterior_with_independent_noise_per_scalar():
    params, cstate = two_leaf_params()
    compressor = gaussian_posterior()
    draws = 4000
    keys = jax.random.split(jax.random.key(7), draws)
    samples = jax.jit(jax.vmap(compressor.apply, in_axes=(None, None, 0)))(params, cstate, keys)
    z = {}
    for path in ("a/kernel", "b/kernel"):
        mu = np.asarray(dict(leaves_with_paths(params))[path], np.float64)
        sigma = np.exp(np.asarray(cstate[path].log_sigma, np.float64))
        z[path] = (np.asarray(dict(leaves_with_paths(samples))[path], np.float64) - mu) / sigma
        # Standardized draws: mean 0 (std error 1/sqrt(4000) = 0.016) and variance 1 (std
        # error sqrt(2/4000) = 0.022) per scalar; 5 standard errors each.
        assert np.all(np.abs(z[path].mean(axis=0)) < 5 / math.sqrt(draws))
        assert np.all(np.abs(z[path].var(axis=0) - 1) < 5 * math.sqrt(2 / draws))
    # Scalars and leaves draw independently: no correlation between the two leaves' noise or
    # between neighbouring scalars of one leaf.
    a, b = z["a/kernel"].reshape(draws, -1), z["b/kernel"].reshape(draws, -1)
    assert abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]) < 5 / math.sqrt(draws)
    assert abs(np.corrcoef(a[:, 0], a[:, 1])[0, 1]) < 5 / math.sqrt(draws)
    # The unselected bias passes through, and a key gives one sample, always the same (to
    # float32 rounding between this eager call and the vmapped program).
    np.testing.assert_array_equal(np.asarray(samples["bias"][0]), np.asarray(params["bias"]))
    again = compressor.apply(params, cstate, keys[3])["a"]["kernel"]
    np.testing.assert_array_equal(again, compressor.apply(params, cstate, keys[3])["a"]["kernel"])
    np.testing.assert_allclose(again, samples["a"]["kernel"][3], rtol=1e-5, atol=1e-6)


def test_hard_is_the_posterior_mean_bit_for_bit():
    params, cstate = two_leaf_params()
    compressor = gaussian_posterior()
    for hard in (compressor.hard, jax.jit(compressor.hard)):
        for (path, got), (_, mean) in zip(
            leaves_with_paths(hard(params, cstate)), leaves_with_paths(params), strict=True
        ):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(mean), err_msg=path)


def test_log_sigma_gets_gradients_and_only_the_compressor_optimizer_moves_it():
    params, _ = two_leaf_params()
    compressor = gaussian_posterior(init_log_sigma=-4.0)
    cstate = compressor.init(params)
    assert set(jax.tree.leaves(compressor.labels(cstate))) == {LEARNED}
    # The KL's gradient, d KL / d log sigma_j = (sigma_j^2 / s^2 - 1) / ln 2 bits, s^2 =
    # mean(mu^2 + sigma^2): negative while sigma is below the prior's scale.
    grads = jax.grad(compressor.bits, argnums=1)(params, cstate)
    for path in cstate:
        mu = np.asarray(dict(leaves_with_paths(params))[path], np.float64)
        var = np.exp(2.0 * np.asarray(cstate[path].log_sigma, np.float64))
        expected = (var / np.mean(mu**2 + var) - 1) / math.log(2)
        np.testing.assert_allclose(grads[path].log_sigma, expected, rtol=1e-5, err_msg=path)

    def train(model_optimizer, compressor_optimizer, steps=50):
        optimizer = make_optimizer(
            compressor, cstate, params, model_optimizer, compressor_optimizer
        )
        pair, opt_state = (params, cstate), optimizer.init((params, cstate))
        for _ in range(steps):
            grad = jax.grad(lambda p: compressor.bits(*p))(pair)
            updates, opt_state = optimizer.update(grad, opt_state, pair)
            pair = optax.apply_updates(pair, updates)
        return pair

    # The compressor's optimizer widens the posterior (the KL falls); the mean stays put.
    mean, trained = train(optax.set_to_zero(), optax.adam(0.1))
    assert float(compressor.bits(mean, trained)) < float(compressor.bits(params, cstate)) - 100
    assert all(np.all(np.asarray(trained[p].log_sigma) > -4.0 + 1.0) for p in trained)
    np.testing.assert_array_equal(mean["a"]["kernel"], params["a"]["kernel"])
    # The model's optimizer never reaches log sigma, weight decay included.
    _, untouched = train(optax.adamw(0.1, weight_decay=0.5), optax.set_to_zero(), steps=3)
    for path in cstate:
        np.testing.assert_array_equal(untouched[path].log_sigma, cstate[path].log_sigma)


def test_the_data_term_reaches_log_sigma_through_the_sample():
    model = MLP([4, 3], rngs=nnx.Rngs(0))
    graphdef, params = split_params(model)
    compressor = gaussian_posterior(init_log_sigma=-1.0)
    cstate = compressor.init(params)
    xb, yb = jax.random.normal(jax.random.key(0), (8, 4)), jnp.arange(8) % 3
    options = dict(graphdef=graphdef, compressor=compressor, data_code=categorical(), n_train=8)
    grads = jax.grad(description_length_loss, argnums=1)(
        params, cstate, xb, yb, jax.random.key(1), 0.0, **options
    )
    (path,) = cstate  # the kernel; beta = 0, so this gradient is the data term's alone
    assert np.all(np.isfinite(grads[path].log_sigma)) and np.any(grads[path].log_sigma != 0)


def test_the_engines_forward_hook_replaces_the_default_forward_pass():
    model = MLP([4, 3], rngs=nnx.Rngs(0))
    graphdef, params = split_params(model)
    compressor = gaussian_posterior(select=lambda path, leaf: True)
    cstate = compressor.init(params)
    xb, yb, key = jnp.ones((5, 4)), jnp.asarray([0, 1, 2, 0, 1]), jax.random.key(2)
    options = dict(graphdef=graphdef, compressor=compressor, data_code=categorical(), n_train=10)
    default = description_length_loss(params, cstate, xb, yb, key, 1.0, **options)

    def explicit(graphdef, params, cstate, xb, key):
        return nnx.merge(graphdef, compressor.apply(params, cstate, key))(xb)

    same = description_length_loss(params, cstate, xb, yb, key, 1.0, forward=explicit, **options)
    assert float(same) == float(default)

    def uniform(graphdef, params, cstate, xb, key):  # logits that ignore the weights
        return jnp.zeros((xb.shape[0], 3))

    loss = description_length_loss(params, cstate, xb, yb, key, 0.0, forward=uniform, **options)
    assert float(loss) == pytest.approx(10 * math.log2(3), rel=1e-6)


def test_no_file_is_written_and_the_error_names_the_compressor(tmp_path):
    model = MLP([4, 3], rngs=nnx.Rngs(0))
    _, params = split_params(model)
    compressor = gaussian_posterior()
    cstate = compressor.init(params)
    with pytest.raises(ValueError, match="gaussian_posterior has no file"):
        compressor.finalize(params, cstate)
    with pytest.raises(ValueError, match="gaussian_posterior has no file"):
        encode_compressed(model, compressor, cstate)
    with pytest.raises(ValueError, match="gaussian_posterior has no file"):
        save_compressed(tmp_path / "model.modl", model, compressor, cstate)
    assert not (tmp_path / "model.modl").exists()
    with pytest.raises(ValueError, match="init_log_sigma must be finite"):
        gaussian_posterior(init_log_sigma=float("nan"))
