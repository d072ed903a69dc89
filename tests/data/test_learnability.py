"""Smoke tests: each image set is learnable, by a logistic regression and by an MLP.

Accuracies measured by these tests are recorded in ``mdl/data/__init__.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from mdl import categorical_bits
from mdl.data import batches, load
from mdl.models import MLP


def fit_and_score(
    data, hidden: tuple[int, ...], steps: int, max_train: int, seed: int = 0
) -> float:
    """Adam (1e-3), about ``steps`` minibatches of 128 (whole epochs, each scanned inside one
    jit) on at most ``max_train`` examples; returns test accuracy."""
    x_train = data.x_train[:max_train].reshape(min(max_train, len(data.x_train)), -1)
    y_train = data.y_train[:max_train]
    x_test = data.x_test.reshape(len(data.x_test), -1)
    model = MLP([x_train.shape[1], *hidden, data.num_classes], rngs=nnx.Rngs(seed))
    graphdef, params = nnx.split(model)
    optimizer = optax.adam(1e-3)

    def loss(p, xb, yb):
        return categorical_bits(nnx.merge(graphdef, p)(xb), yb).mean()

    def step(carry, batch):
        p, state = carry
        grads = jax.grad(loss)(p, *batch)
        updates, state = optimizer.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), None

    @jax.jit
    def epoch(p, state, key):
        (p, state), _ = jax.lax.scan(step, (p, state), batches(key, x_train, y_train, 128))
        return p, state

    state = optimizer.init(params)
    epochs = max(1, steps // (len(x_train) // 128))
    for key in jax.random.split(jax.random.key(seed), epochs):
        params, state = epoch(params, state, key)
    predictions = nnx.merge(graphdef, params)(jnp.asarray(x_test)).argmax(-1)
    return float(np.mean(np.asarray(predictions) == data.y_test))


IMAGE_SETS = {
    # name: (loader options, minimum accuracy logistic, minimum accuracy MLP); chance is 10%.
    "digits": ({}, 0.85, 0.9),
    "mnist": ({"root": None}, 0.85, 0.9),
    "fashion_mnist": ({}, 0.75, 0.8),
    "mnist1d": ({}, 0.25, 0.45),
}


@pytest.mark.parametrize("name", list(IMAGE_SETS))
def test_logistic_regression_and_mlp_learn_well_above_chance(name, request, capsys):
    options, floor_linear, floor_mlp = IMAGE_SETS[name]
    if name == "mnist":
        options = {"root": request.getfixturevalue("mnist_dir")}
    if name == "fashion_mnist":
        request.getfixturevalue("fashion_dir")
    data = load(name, **options)
    linear = fit_and_score(data, (), steps=1500, max_train=10_000)
    mlp = fit_and_score(data, (128,), steps=1500, max_train=10_000)
    with capsys.disabled():
        print(f"\n{name}: logistic regression {linear:.1%}, MLP-128 {mlp:.1%} test accuracy")
    assert linear >= floor_linear
    assert mlp >= floor_mlp
