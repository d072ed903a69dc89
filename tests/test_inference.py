"""mdl.inference.evaluate_model: a whole model's figures, against scipy on its own logits."""

import numpy as np
import pytest
from flax import nnx
from scipy.special import log_softmax

from mdl.inference import evaluate_model
from mdl.models import MLP


def test_evaluate_model_gives_the_categorical_bits_and_error_of_the_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=300)
    model = MLP([6, 8, 3], rngs=nnx.Rngs(1))
    logits = np.asarray(model(x), np.float64)
    expected_bits = -log_softmax(logits, axis=1)[np.arange(300), y].sum() / np.log(2)
    expected_error = np.mean(logits.argmax(1) != y)
    bits, error = evaluate_model(model, x, y, chunk=128)  # three chunks, the last one short
    assert bits == pytest.approx(expected_bits, rel=1e-5)
    assert error == expected_error
    assert 0 < error < 1
