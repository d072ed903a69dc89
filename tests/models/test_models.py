"""Reference models: parameter counts (asserted against closed forms) and forward shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from mdl.models import MLP, CharRNN, CharTransformer, lenet5, lenet_300_100, parameter_count


def test_lenet_300_100_has_266610_parameters():
    model = lenet_300_100()
    assert parameter_count(model) == 266_610 == 785 * 300 + 301 * 100 + 101 * 10
    assert model(jnp.zeros((3, 28, 28))).shape == (3, 10)
    assert model(jnp.zeros((3, 784))).shape == (3, 10)


def test_lenet5_has_431080_parameters():
    model = lenet5()
    assert (
        parameter_count(model) == 431_080 == (25 + 1) * 20 + (500 + 1) * 50 + 801 * 500 + 501 * 10
    )
    assert model(jnp.zeros((2, 28, 28))).shape == (2, 10)
    assert model(jnp.zeros((2, 28, 28, 1))).shape == (2, 10)
    with pytest.raises(ValueError, match="LeNet5 expects images"):
        model(jnp.zeros((2, 32, 32)))


@pytest.mark.parametrize("sizes", [[4, 2], [10, 7, 3], [5, 8, 8, 2]])
def test_mlp_parameter_count(sizes):
    model = MLP(sizes, rngs=nnx.Rngs(0))
    assert parameter_count(model) == sum(
        (m + 1) * n for m, n in zip(sizes[:-1], sizes[1:], strict=True)
    )
    assert model(jnp.zeros((6, sizes[0]))).shape == (6, sizes[-1])
    with pytest.raises(ValueError, match="no trailing axes of total size"):
        model(jnp.zeros((6, sizes[0] + 1)))


def test_mlp_bad_sizes():
    with pytest.raises(ValueError, match="sizes must be at least two positive integers"):
        MLP([3], rngs=nnx.Rngs(0))


@pytest.mark.parametrize(
    "vocab, context, dim, heads, layers", [(73, 128, 64, 4, 2), (5, 16, 32, 2, 1)]
)
def test_char_transformer_count_shape_and_causality(vocab, context, dim, heads, layers):
    model = CharTransformer(
        vocab, context, dim=dim, num_heads=heads, num_layers=layers, rngs=nnx.Rngs(0)
    )
    d = dim
    per_block = 4 * (d * d + d) + (8 * d * d + 5 * d) + 4 * d
    assert (
        parameter_count(model)
        == vocab * d + context * d + layers * per_block + 2 * d + d * vocab + vocab
    )
    tokens = jax.random.randint(jax.random.key(0), (2, context), 0, vocab)
    logits = model(tokens)
    assert logits.shape == (2, context, vocab)
    # Changing the last token must not change predictions at earlier positions.
    changed = model(tokens.at[:, -1].set((tokens[:, -1] + 1) % vocab))
    np.testing.assert_allclose(changed[:, :-1], logits[:, :-1], atol=1e-5)
    with pytest.raises(ValueError, match="exceeds the context"):
        model(jnp.zeros((1, context + 1), int))


def test_char_rnn_count_and_shape():
    vocab, e, h = 73, 16, 64
    model = CharRNN(vocab, embed_dim=e, hidden=h, rngs=nnx.Rngs(0))
    assert parameter_count(model) == vocab * e + 3 * (e * h + h + h * h) + h * vocab + vocab
    assert model(jnp.zeros((3, 20), int)).shape == (3, 20, vocab)


def test_pooled_mlp_averages_blocks_and_rebuilds_from_its_description():
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from mdl.models import MLP, build, describe

    model = MLP([49, 8, 10], pool=4, image_shape=(28, 28), rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    reference = MLP([49, 8, 10], rngs=nnx.Rngs(0))  # same weights, fed pooled inputs
    pooled = x.reshape(3, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(3, 49)
    np.testing.assert_allclose(
        model(jnp.asarray(x)), reference(jnp.asarray(pooled)), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(model(jnp.asarray(x.reshape(3, 784))), model(jnp.asarray(x)))
    assert build(describe(model)).pool == 4
    with pytest.raises(ValueError, match="must divide evenly"):
        MLP([50, 10], pool=4, image_shape=(28, 28), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="needs image_shape"):
        MLP([49, 10], pool=4, rngs=nnx.Rngs(0))


def test_convnet_counts_parameters_accepts_flat_images_and_rebuilds():
    from mdl.models import ConvNet, build, describe

    model = ConvNet([4, 6], input_pool=2, image_shape=(28, 28), rngs=nnx.Rngs(0))
    # conv 3x3 1->4, conv 3x3 4->6 (weights + biases), then 14 -> 7 -> 3: a 3*3*6 -> 10 head.
    assert parameter_count(model) == (9 * 4 + 4) + (9 * 4 * 6 + 6) + (3 * 3 * 6 * 10 + 10)
    pooled = ConvNet([4, 6], input_pool=2, global_pool=True, rngs=nnx.Rngs(0))
    assert parameter_count(pooled) == (9 * 4 + 4) + (9 * 4 * 6 + 6) + (6 * 10 + 10)
    x = np.random.default_rng(0).random((3, 28, 28)).astype(np.float32)
    logits = model(jnp.asarray(x))
    assert logits.shape == (3, 10)
    np.testing.assert_array_equal(model(jnp.asarray(x.reshape(3, 784))), logits)
    np.testing.assert_array_equal(model(jnp.asarray(x[..., None])), logits)
    rebuilt = build(describe(model))
    assert describe(rebuilt) == describe(model)
    assert parameter_count(rebuilt) == parameter_count(model)
    with pytest.raises(ValueError, match="expects images of shape"):
        model(jnp.zeros((3, 27, 27)))
    with pytest.raises(ValueError, match="below one pixel"):
        ConvNet([4, 4, 4, 4, 4], image_shape=(16, 16), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input_pool 3 must divide"):
        ConvNet([4], input_pool=3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="channels must be"):
        ConvNet([], rngs=nnx.Rngs(0))


def test_counting_rnn_counts_exactly_with_hand_set_weights_and_rebuilds():
    """A counter (decay 1, increments +1/-1) read out by "count is zero": the state after
    a^n b^m is n - m exactly, for n in the thousands, and the model rebuilds from describe()."""
    from mdl.models import CountingRNN, build, describe

    model = CountingRNN(3, state=1, readout=1, rngs=nnx.Rngs(0))
    shapes = model.shapes()
    assert sum(int(np.prod(s)) for s in shapes.values()) == parameter_count(model)
    assert parameter_count(model) == 3 * 1 + 1 + (1 + 3) * 1 + 1 + 1 * 3 + 3
    values = {
        "embed": [[0.0], [1.0], [-1.0]],
        "decay": [1.0],
        "hidden": [[-1.0], [0.0], [0.0], [0.0]],  # relu(1 - count) is 1 exactly at zero
        "hidden_bias": [1.0],
        "output": [[1.0, 0.0, 0.0]],
        "output_bias": [0.0, 0.0, 0.0],
    }
    model.weights[...] = jnp.concatenate(
        [jnp.asarray(values[k], jnp.float32).reshape(-1) for k in shapes]
    )
    tokens = jnp.asarray([[1] * 3000 + [2] * 3000])
    logits = np.asarray(model(tokens))
    assert logits.shape == (1, 6000, 3)
    at_zero = logits[0, :, 0] == 1.0
    assert at_zero[-1] and not at_zero[:-1].any()  # only after the last b is the count zero
    rebuilt = build(describe(model))
    assert isinstance(rebuilt, CountingRNN) and rebuilt.shapes() == shapes
    with pytest.raises(ValueError, match="state"):
        CountingRNN(3, state=0, rngs=nnx.Rngs(0))
