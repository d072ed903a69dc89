"""`mdl.train.fit`'s choice of the state it returns."""

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from mdl.data.dataset import Dataset
from mdl.inference import evaluate
from mdl.models import MLP
from mdl.params import split_params
from mdl.train import fit


def _noisy_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = rng.integers(0, 3, 256)  # labels unrelated to x: fitting them overfits from the start
    return Dataset(
        x[:128], y[:128], x[128:], y[128:], num_classes=3, input_shape=(8,), source="noise, seed 0"
    )


def test_keep_best_by_a_field_returns_the_state_where_that_field_was_smallest():
    """Early stopping on the evaluation split: the returned model's bits on that split are the
    history's minimum (recomputed here from the returned model, not read from the history), and
    smaller than the last epoch's, since training on noise only overfits."""
    data = _noisy_problem()
    kwargs = dict(optimizer=optax.adam(3e-2), epochs=30, batch_size=32, beta=0.0, progress=False)
    model = MLP([8, 32, 3], rngs=nnx.Rngs(0))
    result = fit(model, data, keep_best="test_data_bits", key=jax.random.key(1), **kwargs)
    graphdef, params = split_params(result.model)
    bits, _ = evaluate(graphdef, params, data.x_test, data.y_test)
    best = min(h["test_data_bits"] for h in result.history)
    assert bits == pytest.approx(best, rel=1e-5)
    assert best < result.history[-1]["test_data_bits"]
    with pytest.raises(ValueError, match="keep_best"):
        fit(MLP([8, 3], rngs=nnx.Rngs(0)), data, keep_best="accuracy", **kwargs)


def _one_pixel_problem(positions):
    """8x8 images holding one lit pixel: class 0 near (2, 2), class 1 near (5, 5); one example
    per position and class, ``positions`` offsets from those centres."""
    images, labels = [], []
    for label, centre in enumerate((2, 5)):
        for dr, dc in positions:
            image = np.zeros((8, 8), np.float32)
            image[centre + dr, centre + dc] = 1.0
            images.append(image.reshape(-1))
            labels.append(label)
    return np.stack(images), np.array(labels)


def test_training_on_shifted_images_generalizes_to_shifted_test_images():
    """``augment``: train on the two centres only, test on the 8 neighbours of each. Without
    shifts the weights of the neighbours' pixels never move from their initialization (their
    inputs are 0 in every training image), so the test predictions stay near even odds (about
    1 bit per label); with shifts of up to 1 pixel the neighbours are trained and the test
    labels cost a small fraction of a bit, every one predicted right."""
    x_train, y_train = _one_pixel_problem([(0, 0)] * 32)
    neighbours = [(r, c) for r in (-1, 0, 1) for c in (-1, 0, 1) if (r, c) != (0, 0)]
    x_test, y_test = _one_pixel_problem(neighbours)
    data = Dataset(
        x_train, y_train, x_test, y_test, num_classes=2, input_shape=(64,), source="one pixel"
    )
    kwargs = dict(optimizer=optax.adam(5e-2), epochs=40, batch_size=16, beta=0.0, progress=False)
    per_label = {}
    for shift in (0, 1):
        model = MLP([64, 2], rngs=nnx.Rngs(0))
        result = fit(model, data, augment=shift, key=jax.random.key(0), **kwargs)
        graphdef, params = split_params(result.model)
        bits, error = evaluate(graphdef, params, x_test, y_test)
        per_label[shift] = (bits / len(y_test), error)
    assert per_label[0][0] > 0.6
    assert per_label[1][0] < 0.1 and per_label[1][1] == 0.0


def test_a_shift_the_inputs_do_not_allow_is_refused_before_training():
    data = _noisy_problem()  # 8 flat features: not a square image
    model = MLP([8, 3], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="not a square image"):
        fit(model, data, augment=1, progress=False)
    with pytest.raises(ValueError, match="max_shift must be an integer >= 0"):
        fit(model, data, augment=-1, progress=False)
