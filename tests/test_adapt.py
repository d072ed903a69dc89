"""The adaptation pipeline: a reference trained on digits 0-4 adapted to 5-9 by each delta;
the returned model is the delta file's, frozen leaves stay at the reference bit for bit, and
adapting beats the reference on the new classes."""

import jax
import numpy as np
import optax
import pytest
from flax import nnx

from mdl.adapt import adapt, freeze_except
from mdl.compress import (
    chain,
    float32_baseline,
    hard_concrete,
    leaves_with_paths,
    lora,
    quantizer,
    reference_params,
)
from mdl.compress.files import encode_compressed
from mdl.data import load, with_classes
from mdl.inference import evaluate
from mdl.models import MLP
from mdl.params import split_params
from mdl.train import fit


@pytest.fixture(scope="module")
def setting():
    data = load("digits")
    model = MLP([64, 32, 10], rngs=nnx.Rngs(0))
    trained = fit(model, with_classes(data, [0, 1, 2, 3, 4]), epochs=20, progress=False).model
    plain = float32_baseline()
    ref_file = encode_compressed(trained, plain, plain.init(split_params(trained)[1]))
    return data, ref_file


def error_on(model, data):
    graphdef, weights = split_params(model)
    return evaluate(graphdef, weights, data.x_test, data.y_test)[1]


@pytest.mark.parametrize(
    "name, inner, trainable",
    [
        ("dense", quantizer(lambda p, w: True), "all"),
        ("head", quantizer(lambda p, w: True), "layers/1/"),
        ("lora", lora(2), "all"),
        ("sparse", chain(hard_concrete(lambda p, w: True), quantizer(lambda p, w: True)), "all"),
    ],
)
def test_each_delta_adapts_and_its_file_is_the_model(setting, name, inner, trainable):
    data, ref_file = setting
    template = MLP([64, 32, 10], rngs=nnx.Rngs(5))
    new = with_classes(data, [5, 6, 7, 8, 9])
    reference = reference_params(ref_file, template)
    graphdef, _ = split_params(template)
    before = error_on(nnx.merge(graphdef, reference), new)
    result = adapt(
        ref_file,
        template,
        new,
        inner,
        trainable=trainable,
        epochs=30,
        learning_rate=1e-2,
        beta=0.05,
    )
    after = error_on(result.model, new)
    assert before > 0.9 and after < 0.5, (name, before, after)  # it learned the new classes
    # the model is the file's: hard() of the trained state, bit for bit
    _, hard = split_params(result.model)
    want = result.compressor.hard(result.params, result.cstate)
    for a, b in zip(jax.tree.leaves(hard), jax.tree.leaves(want), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    if trainable != "all":
        for (path, w), (_, r) in zip(
            leaves_with_paths(hard), leaves_with_paths(reference), strict=True
        ):
            if not path.startswith("layers/1/"):
                assert np.array_equal(np.asarray(w), np.asarray(r)), path


def test_freeze_except_zeroes_exactly_the_masked_updates_and_checks_its_length():
    updates = {"a": np.ones(3), "b": np.ones(2), "c": np.ones(1)}
    transform = freeze_except([True, False, True])
    out, _ = transform.update(updates, transform.init(updates))
    assert [float(np.sum(v)) for v in jax.tree.leaves(out)] == [3.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="mask has 2"):
        freeze_except([True, False]).update(updates, optax.EmptyState())


def test_bad_arguments_are_refused(setting):
    data, ref_file = setting
    template = MLP([64, 32, 10], rngs=nnx.Rngs(5))
    with pytest.raises(TypeError, match="Compressor"):
        adapt(ref_file, template, data, lambda w: w)
    with pytest.raises(ValueError, match="matches no parameter"):
        adapt(ref_file, template, data, quantizer(), trainable="nothing-like-this")
