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
