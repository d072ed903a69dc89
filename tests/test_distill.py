"""Distillation: the objective against scipy, alpha = 0 is plain fit, the student's code and
file involve no teacher, and bad settings are refused before training."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, rel_entr

from mdl.compress import load_compressed, quantizer, save_compressed
from mdl.data import load
from mdl.distill import distill, distillation_loss
from mdl.estimators import two_part
from mdl.models import MLP
from mdl.train import fit


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    alpha=st.floats(0.0, 1.0),
    temperature=st.floats(0.5, 8.0),
)
def test_distillation_loss_is_cross_entropy_plus_scaled_kl(seed, alpha, temperature):
    rng = np.random.default_rng(seed)
    student, teacher = rng.normal(size=(2, 5, 4)) * 3
    labels = rng.integers(0, 4, size=5)
    targets = np.concatenate([labels[:, None], teacher], 1).astype(np.float32)
    got = np.asarray(
        distillation_loss(alpha, temperature).bits(jnp.asarray(student, jnp.float32), targets)
    )
    ce = -log_softmax(student, -1)[np.arange(5), labels] / math.log(2)
    p_t = np.exp(log_softmax(teacher / temperature, -1))
    p_s = np.exp(log_softmax(student / temperature, -1))
    kl = rel_entr(p_t, p_s).sum(-1) / math.log(2)
    expected = (1 - alpha) * ce + alpha * temperature**2 * kl
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)


@pytest.fixture(scope="module")
def digits_and_teacher():
    data = load("digits")
    teacher = fit(
        MLP([64, 64, 10], rngs=nnx.Rngs(1)),
        data,
        optimizer=optax.adam(1e-2),
        epochs=20,
        batch_size=64,
    ).model
    return data, teacher


def test_alpha_zero_is_plain_fit(digits_and_teacher):
    data, teacher = digits_and_teacher
    options = dict(optimizer=optax.adam(1e-2), epochs=3, batch_size=64, key=jax.random.key(3))
    plain = fit(MLP([64, 8, 10], rngs=nnx.Rngs(0)), data, **options)
    distilled = distill(MLP([64, 8, 10], rngs=nnx.Rngs(0)), teacher, data, alpha=0.0, **options)
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(distilled.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    assert distilled.history[-1]["train_data_bits"] == pytest.approx(
        plain.history[-1]["train_data_bits"], rel=1e-3
    )


def test_the_students_code_is_its_file_and_the_labels_without_the_teacher(
    digits_and_teacher, tmp_path
):
    data, teacher = digits_and_teacher
    compressor = quantizer(lambda path, leaf: True, prior="spike_laplace")
    result = distill(
        MLP([64, 16, 10], rngs=nnx.Rngs(0)),
        teacher,
        data,
        alpha=0.7,
        temperature=3.0,
        compressor=compressor,
        optimizer=optax.adam(1e-2),
        epochs=5,
        batch_size=64,
        beta=0.5,
    )
    assert result.data_code.name == "categorical"
    # the file alone gives the student: the same predictions as the returned hard model
    path = tmp_path / "student.mdl"
    save_compressed(path, result.model, compressor, result.cstate)
    decoded = load_compressed(path)
    x = jnp.asarray(data.x_test, jnp.float32)
    assert np.array_equal(
        np.asarray(decoded(x)).argmax(-1), np.asarray(result.hard_model()(x)).argmax(-1)
    )
    # the two-part code of the student needs nothing but the student and the labels, and the
    # decoded student (no teacher anywhere) gives the same labels' part
    report = two_part(
        result.model, data.x_train, data.y_train, compressor=compressor, cstate=result.cstate
    )
    assert set(report.parts) == {"structure", "params", "data"}
    again = two_part(decoded, data.x_train, data.y_train)
    assert again.parts["data"] == report.parts["data"]
    final = result.history[-1]
    assert final["total_bits"] == pytest.approx(final["model_bits"] + final["train_data_bits"])
    assert "objective_bits" in final and final["objective_bits"] != final["train_data_bits"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(alpha=1.5), "alpha must be in"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(keep_best=True), "does not take keep_best"),
        (dict(data_code="categorical"), "does not take data_code"),
    ],
)
def test_bad_settings_are_refused_before_training(digits_and_teacher, options, message):
    data, teacher = digits_and_teacher
    with pytest.raises(ValueError, match=message):
        distill(MLP([64, 8, 10], rngs=nnx.Rngs(0)), teacher, data, epochs=1, **options)


def test_a_teacher_with_other_classes_is_refused(digits_and_teacher):
    data, _ = digits_and_teacher
    wrong = MLP([64, 8, 3], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="teacher must output"):
        distill(MLP([64, 8, 10], rngs=nnx.Rngs(0)), wrong, data, epochs=1)
