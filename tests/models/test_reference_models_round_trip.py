"""Every reference model trains, compresses and round-trips through a file (both formats)."""

import jax
import numpy as np
import pytest

from mdl.codes.data_codes import categorical, next_token
from mdl.compress import quantizer
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.data import load
from mdl.data.dataset import Dataset
from mdl.models import describe
from mdl.models.catalog import reference_model
from mdl.params import split_params
from mdl.train import fit


def _images(side: int, n: int = 256) -> Dataset:
    digits = load("digits")
    x = np.resize(digits.x_train[:n], (n, side, side)).astype(np.float32)
    return Dataset(x, digits.y_train[:n], x[:64], digits.y_train[:64], 10, (side, side), "test")


def _tokens(n: int = 64, length: int = 12, vocab: int = 7) -> Dataset:
    rng = np.random.default_rng(0)
    w = rng.integers(0, vocab, (n, length + 1)).astype(np.int32)
    return Dataset(w[:, :-1], w[:, 1:], w[:16, :-1], w[:16, 1:], vocab, (length,), "random tokens")


CASES = [
    ({"name": "MLP", "hidden": [8]}, lambda: _images(8), categorical()),
    ({"name": "ConvNet", "channels": [2, 4]}, lambda: _images(8), categorical()),
    ({"name": "LeNet5"}, lambda: _images(28, 128), categorical()),
    ({"name": "CharRNN", "hidden": 8, "embed_dim": 4}, _tokens, next_token()),
    ({"name": "CharTransformer", "dim": 8, "num_heads": 2, "num_layers": 1}, _tokens, next_token()),
]


@pytest.mark.parametrize("spec, make_data, code", CASES, ids=[c[0]["name"] for c in CASES])
def test_reference_model_trains_compresses_and_round_trips(spec, make_data, code):
    data = make_data()
    model = reference_model(spec, data, seed=0)
    result = fit(
        model,
        data,
        compressor=quantizer(),
        epochs=1,
        batch_size=32,
        progress=False,
        data_code=code,
    )
    assert result.data_code is code and result.history[-1]["model_bits"] > 0
    hard = result.hard_model()
    x = data.x_test[:4]
    expected = np.asarray(hard(x))
    for compact in (False, True):
        blob = encode_compressed(result.model, result.compressor, result.cstate, compact=compact)
        decoded = decode_compressed(blob, None if not compact else reference_model(spec, data))
        np.testing.assert_array_equal(np.asarray(decoded(x)), expected)
    # The self-describing file names the architecture: build() recreates it from describe().
    assert describe(
        decode_compressed(encode_compressed(result.model, result.compressor, result.cstate))
    ) == describe(model)
    assert jax.tree.structure(split_params(hard)[1]) == jax.tree.structure(result.params)
