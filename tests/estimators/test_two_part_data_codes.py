"""Two-part codes under every data code: text with next-token, regression with a discretized
Gaussian, labels unchanged; the data part is a real file that decodes back."""

import math

import numpy as np
import optax
import pytest
from flax import nnx

from mdl.codec import container, encode_labels
from mdl.codec.targets import decode_targets, encode_targets, side_bits
from mdl.codes.data_codes import categorical, discretized_gaussian, next_token
from mdl.data import load, load_text
from mdl.data.dataset import Dataset
from mdl.estimators import two_part
from mdl.inference import model_outputs, predictive_probs
from mdl.models import MLP
from mdl.models.catalog import reference_model
from mdl.params import split_params
from mdl.train import fit

# What a targets file adds to its ideal length: the container (224 bits for two sections), the
# metadata (a few varints and a CRC-32) and the coder's sentinel and state (96 bits).
OVERHEAD_BITS = 224 + 8 * 16 + 96


def assert_data_part_is_the_codes_bits(report):
    ideal, code_bits = report.details["data_estimate_bits"], report.details["data_code_bits"]
    assert report.real and report.parts["data"] % 8 == 0
    assert ideal == pytest.approx(code_bits + report.details["data_side_bits"], rel=1e-5)
    assert ideal - 64 <= report.parts["data"] <= ideal * 1.001 + OVERHEAD_BITS


def test_a_char_rnn_on_text_has_a_real_two_part_code(kjv_path):
    data = load_text(kjv_path, context=32, max_symbols=4_000)
    model = reference_model({"name": "CharRNN", "embed_dim": 4, "hidden": 8}, data, seed=0)
    result = fit(model, data, optimizer=optax.adam(3e-2), epochs=3, batch_size=32, progress=False)
    x, y = data.x_train, data.y_train
    report = two_part(result.model, x, y, test=(data.x_test, data.y_test))
    assert report.details["data_code"] == {"name": "next_token"}
    assert report.num_examples == y.size and report.num_classes == data.num_classes
    assert_data_part_is_the_codes_bits(report)
    # Three epochs on 3,400 characters: already below the uniform code's log2 V a character.
    assert report.details["data_code_bits"] < y.size * math.log2(data.num_classes)
    assert 0 < report.details["train_error"] < 1 and 0 < report.details["test_error"] < 1
    # The data file, written again, decodes to the text given the decoded model's outputs.
    graphdef, weights = split_params(result.model)
    outputs = model_outputs(graphdef, weights, x)
    blob = encode_targets(next_token(), outputs, y)
    assert 8 * len(blob) == report.parts["data"]
    np.testing.assert_array_equal(decode_targets(next_token(), outputs, blob), y)
    # Sequences of different lengths: the padding goes in the file (each length, log2(T + 1)
    # bits) and the tokens past it are neither coded nor counted.
    padded = y.copy()
    padded[np.arange(32) >= np.arange(len(y))[:, None] % 33] = -1
    short = two_part(result.model, x, padded, data_code="next_token")
    assert side_bits(next_token(), padded) == pytest.approx(len(y) * math.log2(33))
    assert short.num_examples == int((padded != -1).sum())
    assert short.details["data_estimate_bits"] == pytest.approx(
        short.details["data_code_bits"] + len(y) * math.log2(33), rel=1e-5
    )
    assert short.details["data_estimate_bits"] - 64 <= short.parts["data"]
    assert short.parts["data"] <= short.details["data_estimate_bits"] * 1.001 + OVERHEAD_BITS


def regression(n: int, seed: int, width: float):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=n)
    return x, (np.rint(y / width) * width).astype(np.float32)


def test_regression_with_a_discretized_gaussian_has_a_real_two_part_code():
    width = 0.01
    code = discretized_gaussian(width)
    x, y = regression(256, 0, width)
    x_test, y_test = regression(64, 1, width)
    data = Dataset(x, y, x_test, y_test, 1, (3,), "linear regression")
    model = MLP([3, 16, 2], rngs=nnx.Rngs(0))
    result = fit(
        model,
        data,
        data_code=code,
        optimizer=optax.adam(1e-2),
        epochs=40,
        batch_size=64,
        progress=False,
    )
    report = two_part(result.model, x, y, data_code=code, test=(x_test, y_test))
    assert report.details["data_code"] == {"name": "discretized_gaussian", "bin_width": width}
    assert_data_part_is_the_codes_bits(report)
    # The noise's own code: log2(0.3 sqrt(2 pi e) / 0.01) = 6.95 bits a value; a fit that
    # learned the line is within a few bits of it, far below the uniform code over the window.
    assert report.details["data_code_bits"] < 256 * 9.5
    assert report.details["data_code_bits"] < 0.9 * report.uniform_bits
    assert report.num_examples == 256 and report.details["test_error"] < 1.0
    # Values off the grid are described at resolution w: the file decodes to their bin centres.
    rough = y + np.float32(0.4 * width)
    assert two_part(result.model, x, rough, data_code=code).parts["data"] > 0
    with pytest.raises(ValueError, match="num_classes applies to labels and tokens"):
        two_part(result.model, x, y, data_code=code, num_classes=3)
    with pytest.raises(ValueError, match="needs real-valued targets"):
        two_part(result.model, x, np.zeros(256, np.int64), data_code=code)


def test_labels_keep_their_file_byte_for_byte():
    data = load("digits")
    model = MLP([64, 8, 10], rngs=nnx.Rngs(1))
    x, y = data.x_train.astype(np.float32), data.y_train
    graphdef, weights = split_params(model)
    blob = encode_targets(categorical(), model_outputs(graphdef, weights, x), y)
    assert blob == encode_labels(predictive_probs(graphdef, weights, x), y)
    default, explicit = two_part(model, x, y), two_part(model, x, y, data_code="categorical")
    assert default == explicit and default.parts["data"] == 8 * len(blob)
    assert default.details["data_code"] == {"name": "categorical"}
    assert container.kind_of(blob) == "LABL"
