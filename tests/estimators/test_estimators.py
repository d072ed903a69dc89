"""Estimators against floors no code can beat, closed forms, and exact round trips."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.codec import CodecError, container
from mdl.compress import GaussianPosteriorState, gaussian_posterior, leaves_with_paths, quantizer
from mdl.data import load
from mdl.estimators import (
    DescriptionLength,
    chunk_boundaries,
    decode_prequential,
    encode_prequential,
    kl_bits,
    prequential,
    structure_bits,
    two_part,
    variational,
)
from mdl.estimators.variational import GaussianPosterior, _mlp_local_forward
from mdl.models import MLP, CharRNN, ConvNet
from mdl.params import split_params
from mdl.train import fit

# Barron's no-hypercompression inequality: for any prefix code L and the true distribution p,
# P(L(y) <= -log2 p(y) - c) <= 2^-c. With c = 10 a valid code beats the true distribution's
# realized bits by 10 bits at most once in 1,024 draws.
SLACK_BITS = 10.0
FAST = dict(max_epochs=10, min_steps=20, eval_every=20, patience=3)


def teacher(seed: int):
    data = load(
        "teacher",
        input_dim=5,
        hidden=(),
        num_classes=3,
        num_train=256,
        num_test=64,
        temperature=1.0,
        seed=seed,
    )
    probs = data.extras["probs"][:256]
    realized = -np.log2(probs[np.arange(256), data.y_train]).sum()
    entropy = -(probs * np.log2(probs)).sum()
    return data, float(realized), float(entropy)


def mlp_fn(rngs):
    return MLP([5, 16, 3], rngs=rngs)


def estimates(x, y, num_classes, seed):
    compressor = quantizer()
    data_like = load(
        "teacher",
        input_dim=5,
        hidden=(),
        num_classes=3,
        num_train=256,
        num_test=64,
        temperature=1.0,
        seed=0,
    )
    data_like = type(data_like)(x, y, x[:8], y[:8], num_classes, (5,), "test")
    result = fit(
        mlp_fn(nnx.Rngs(seed)),
        data_like,
        compressor=compressor,
        optimizer=optax.adam(1e-2),
        epochs=30,
        batch_size=64,
        beta=1.0,
        progress=False,
    )
    yield two_part(result.model, x, y, compressor=compressor, cstate=result.cstate)
    yield variational(mlp_fn(nnx.Rngs(seed)), x, y, epochs=30, batch_size=64, learning_rate=1e-2)[0]
    yield prequential(mlp_fn, x, y, num_classes=num_classes, seed=seed, **FAST)


@settings(max_examples=2)
@given(seed=st.integers(0, 1000))
def test_no_estimator_beats_the_true_distribution_on_teacher_labels(seed):
    data, realized, entropy = teacher(seed)
    assert abs(realized - entropy) < 6 * math.sqrt(256)  # the labels are typical draws
    for report in estimates(data.x_train, data.y_train, 3, seed):
        assert report.total_bits >= realized - SLACK_BITS, (report.method, report.total_bits)
        assert report.total_bits >= entropy - SLACK_BITS - 4 * math.sqrt(256 * 2.5)


@settings(max_examples=2)
@given(seed=st.integers(0, 1000))
def test_no_estimator_compresses_random_labels(seed):
    data, _, _ = teacher(seed)
    y = np.random.default_rng(seed).integers(0, 3, 256)
    uniform = 256 * math.log2(3)
    for report in estimates(data.x_train, y, 3, seed):
        assert report.total_bits >= uniform - SLACK_BITS, (report.method, report.total_bits)
        assert report.uniform_bits == pytest.approx(uniform)


def test_prequential_compresses_learnable_labels_and_its_file_decodes_exactly():
    data = load("digits")

    def fn(rngs):
        return MLP([64, 32, 10], rngs=rngs)

    settings = dict(max_epochs=20, min_steps=50, eval_every=25, patience=3, learning_rate=3e-3)
    # All 1,258 training labels: the ideal length lands far below 1,258 log2 10 = 4,179 bits,
    # and the file adds a fixed overhead (container, settings, coder state: under 1,000 bits).
    report = prequential(fn, data.x_train, data.y_train, num_classes=10, **settings)
    n = len(data.y_train)
    assert report.details["boundaries"] == [8, 16, 32, 64, 128, 256, 512, 1024, n]
    assert report.parts["first_chunk"] == pytest.approx(8 * math.log2(10))
    assert report.details["ideal_bits"] < 0.4 * report.uniform_bits
    assert report.total_bits < 0.6 * report.uniform_bits
    assert report.parts["file_overhead"] < 1000
    # The model trained on 1,024 labels codes the last 234 at under a bit each (uniform: 3.32).
    assert report.details["chunks"][-1]["bits_per_label"] < 1.0
    # The real code, at a size where decoding (which retrains every chunk model) stays quick.
    x, y = data.x_train[:300], data.y_train[:300]
    small = prequential(fn, x, y, num_classes=10, **settings)
    blob = encode_prequential(fn, x, y, num_classes=10, **settings)
    assert 8 * len(blob) == pytest.approx(small.total_bits)
    assert np.array_equal(decode_prequential(blob, fn, x), y)
    # The chunk table's bits (numpy, from the chunk models' probabilities) are what the rANS
    # coder wrote: the information content, then the 32-bit sentinel and at most two words of
    # coder state, less than 0.1% lost to its 24-bit probabilities.
    ideal = small.details["ideal_bits"]
    assert list(container.unpack(blob, "PREQ")) == ["CODE"]
    words = 8 * len(blob) - 8 * (container.HEADER_BYTES + 8) - 32  # less framing and the CRC
    settings_bits = words - ideal
    assert 0 <= settings_bits <= ideal * 0.001 + 96 + 8 * 20  # a few bytes of settings
    # Labels drawn uniformly at random: no code beats their information content, 300 log2 10
    # bits, by more than SLACK_BITS (Barron), however well the chunk models fit.
    noise = np.random.default_rng(0).integers(0, 10, len(y))
    random = prequential(fn, x, noise, num_classes=10, **settings)
    assert random.details["ideal_bits"] >= len(y) * math.log2(10) - SLACK_BITS
    corrupt = bytearray(blob)
    corrupt[len(corrupt) // 2] ^= 0x10
    with pytest.raises(CodecError):
        decode_prequential(bytes(corrupt), fn, x)
    with pytest.raises(CodecError, match="x has 299 examples"):
        decode_prequential(blob, fn, x[:299])
    # A file of the first format (sections SETT, META, RANS: every boundary and field written
    # out), built here from the format's description, still decodes to the same labels.
    assert np.array_equal(decode_prequential(legacy_layout(blob), fn, x), y)


def test_prequential_with_shifted_training_images_decodes_and_refuses_bad_shifts():
    """Chunk models trained on shifted images (``augment``): the decoder draws the same shifts
    from the same keys, so the file decodes; a shift that does not fit the images is a
    ValueError at encoding and a CodecError in a forged file."""
    from mdl.estimators.prequential import _settings, _settings_bytes, _settings_from_bytes

    data = load("digits")  # 8x8 images

    def fn(rngs):
        return MLP([64, 32, 10], rngs=rngs)

    x, y = data.x_train[:300], data.y_train[:300]
    settings = dict(max_epochs=20, min_steps=50, eval_every=25, patience=3, learning_rate=3e-3)
    blob = encode_prequential(fn, x, y, num_classes=10, augment=1, **settings)
    assert np.array_equal(decode_prequential(blob, fn, x), y)
    plain = encode_prequential(fn, x, y, num_classes=10, **settings)
    assert blob != plain  # the shifts changed the chunk models
    code = container.unpack(blob, "PREQ")["CODE"]
    stored, at = _settings_from_bytes(code)
    assert stored.augment == 1
    with pytest.raises(ValueError, match="below the image side"):
        prequential(fn, x, y, num_classes=10, augment=8, **settings)
    with pytest.raises(ValueError, match="not a square image"):
        prequential(fn, x.reshape(300, 64)[:, :60], y, num_classes=10, augment=1, **settings)
    forged = _settings_bytes(_settings(300, 10, 8, None, dict(settings, augment=99)))
    forged_blob = container.pack("PREQ", {"CODE": forged + code[at:]})
    with pytest.raises(CodecError, match="invalid shift"):
        decode_prequential(forged_blob, fn, x)


def legacy_layout(blob: bytes) -> bytes:
    """``blob`` re-framed in the first prequential format: SETT (varints: boundary count, the
    gaps, num_classes, batch_size, max_epochs, min_steps, eval_every, patience, seed,
    calibrate; float32 learning rate and holdout fraction), META (chunk count, chunk sizes,
    alphabet, CRC-32 of the labels) and RANS (the coded words)."""
    import struct

    from mdl.estimators.prequential import _settings_from_bytes

    code = container.unpack(blob, "PREQ")["CODE"]
    s, at = _settings_from_bytes(code)
    gaps = [s.boundaries[0], *np.diff(s.boundaries)]
    ints = [s.num_classes, s.batch_size, s.max_epochs, s.min_steps, s.eval_every, s.patience]
    sett = container.varints([len(gaps), *gaps, *ints, s.seed, int(s.calibrate)])
    sett += struct.pack("<ff", s.learning_rate, s.holdout_fraction)
    meta = container.varints([len(gaps), *gaps, s.num_classes]) + code[at : at + 4]
    return container.pack("PREQ", {"SETT": sett, "META": meta, "RANS": code[at + 4 :]})


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(3, 100_000),
    first=st.integers(2, 64),
    ratio=st.floats(1.05, 4.0),
    batch_size=st.integers(1, 1024),
    learning_rate=st.floats(1e-6, 1.0),
    seed=st.integers(0, 2**31),
    calibrate=st.booleans(),
    augment=st.integers(0, 300),
)
def test_prequential_settings_read_back_and_every_truncation_is_a_codec_error(
    n, first, ratio, batch_size, learning_rate, seed, calibrate, augment
):
    """The settings header is read back to the same settings (float fields as float32, as the
    chunk models train with them); every truncated header is a CodecError, never a crash."""
    from mdl.estimators.prequential import _settings, _settings_bytes, _settings_from_bytes

    first = min(first, n - 1)
    options = dict(
        ratio=ratio,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        calibrate=calibrate,
        augment=augment,
    )
    expected = _settings(n, 10, first, None, options)
    payload = _settings_bytes(expected)
    assert _settings_from_bytes(payload) == (expected, len(payload))
    assert expected.learning_rate == float(np.float32(learning_rate))
    # the boundaries are the growth rule's, computed independently here
    bounds, r = [first], float(np.float32(ratio))
    while max(bounds[-1] + 1, math.floor(bounds[-1] * r)) < n:
        bounds.append(max(bounds[-1] + 1, math.floor(bounds[-1] * r)))
    assert expected.boundaries == (*bounds, n)
    for cut in range(len(payload)):
        try:
            settings_read, at = _settings_from_bytes(payload[:cut])
        except CodecError:
            continue
        assert at <= cut and settings_read != expected  # a shorter valid header: other fields


def test_two_part_parts_are_the_real_files_and_structure_is_the_log_star_code():
    data = load("digits")
    compressor = quantizer()
    model = MLP([64, 16, 10], rngs=nnx.Rngs(0))
    result = fit(
        model,
        data,
        compressor=compressor,
        optimizer=optax.adam(3e-3),
        epochs=3,
        batch_size=64,
        beta=0.1,
        progress=False,
    )
    report = two_part(
        result.model,
        data.x_train,
        data.y_train,
        compressor=compressor,
        cstate=result.cstate,
        test=(data.x_test, data.y_test),
    )
    assert report.real and report.parts["params"] % 8 == 0 and report.parts["data"] % 8 == 0
    # The data part never undercuts the ideal length and exceeds it by little more than headers.
    ideal = report.details["data_estimate_bits"]
    assert ideal <= report.parts["data"] <= ideal * 1.01 + 500

    def log_star(n):  # independent: log2 c + sum of the positive iterated logs
        total, value = math.log2(2.865064), float(n)
        while (value := math.log2(value)) > 0:
            total += value
        return total

    # Five families (MLP, LeNet5, ConvNet, CharRNN, CharTransformer): log2 5 bits to name one.
    expected = math.log2(5) + log_star(3) + log_star(64) + log_star(16) + log_star(10) + log_star(1)
    assert structure_bits(model) == pytest.approx(expected, abs=1e-4)
    # A convnet: family, number of layers, channels, kernel, input pooling, H, W, C, classes,
    # and one bit for global pooling.
    convnet = ConvNet([4, 6], input_pool=2, rngs=nnx.Rngs(0))
    integers = [2, 4, 6, 3, 2, 28, 28, 1, 10]
    expected = math.log2(5) + sum(log_star(n) for n in integers) + 1
    assert structure_bits(convnet) == pytest.approx(expected, abs=1e-4)
    # A character GRU: vocabulary, embedding and hidden sizes.
    rnn = CharRNN(73, embed_dim=16, hidden=64, rngs=nnx.Rngs(0))
    expected = math.log2(5) + log_star(73) + log_star(16) + log_star(64)
    assert structure_bits(rnn) == pytest.approx(expected, abs=1e-4)
    assert 0 <= report.details["test_accuracy"] <= 1


def test_variational_kl_matches_the_closed_form_and_its_prior_scale_is_optimal():
    rng = np.random.default_rng(0)
    mean = {
        "a": rng.normal(size=(7, 3)).astype(np.float32),
        "b": rng.normal(size=5).astype(np.float32),
    }
    log_sigma = {k: rng.uniform(-3, 0, size=v.shape).astype(np.float32) for k, v in mean.items()}

    def kl_nats(mu, ls, prior_var):  # KL(N(mu, s^2) || N(0, v)) summed, the textbook formula
        var = np.exp(2.0 * ls.astype(np.float64))
        return 0.5 * np.sum(
            var / prior_var + mu.astype(np.float64) ** 2 / prior_var - 1 - np.log(var / prior_var)
        )

    best = sum(
        kl_nats(mean[k], log_sigma[k], np.mean(mean[k] ** 2 + np.exp(2.0 * log_sigma[k])))
        for k in mean
    )
    got = float(kl_bits(GaussianPosterior(mean, log_sigma)))
    assert got == pytest.approx(best / math.log(2), rel=1e-5)
    for k in mean:  # any other prior variance gives a larger KL
        v = np.mean(mean[k] ** 2 + np.exp(2.0 * log_sigma[k]))
        at = kl_nats(mean[k], log_sigma[k], v)
        assert kl_nats(mean[k], log_sigma[k], 1.3 * v) > at
        assert kl_nats(mean[k], log_sigma[k], v / 1.3) > at


def test_variational_trains_through_the_engine_beats_the_uniform_code_and_repeats_exactly():
    data = load("digits")
    x, y = data.x_train[:800], data.y_train[:800]

    def run():
        model = MLP([64, 10], rngs=nnx.Rngs(0))
        options = dict(epochs=15, batch_size=50, learning_rate=1e-2, warmup_fraction=0.5)
        return variational(model, x, y, key=jax.random.key(3), samples=4, **options)

    report, posterior = run()
    assert set(report.parts) == {"kl", "prior_scales", "data"} and not report.real
    assert report.total_bits == pytest.approx(sum(report.parts.values()), rel=1e-12)
    assert report.parts["kl"] > 0 and report.parts["prior_scales"] == 32 * 2
    assert report.details["local_reparameterization"]
    # 800 labels uniformly: 2,658 bits; the posterior's bits-back length was about 2,070 bits
    # for three seeds (KL 1,300 + data 700).
    assert report.total_bits < 0.9 * report.uniform_bits
    # The report's KL and scales are the gaussian_posterior compressor's bits (every tensor).
    compressor = gaussian_posterior(select=lambda path, leaf: True)
    cstate = {
        path: GaussianPosteriorState(log_sigma)
        for path, log_sigma in leaves_with_paths(posterior.log_sigma)
    }
    bits = float(compressor.bits(posterior.mean, cstate))
    assert bits == pytest.approx(report.parts["kl"] + report.parts["prior_scales"], rel=1e-5)
    # The same key gives the same report and posterior, bit for bit.
    again, posterior_again = run()
    assert again.parts == report.parts and again.details == report.details
    for a, b in zip(jax.tree.leaves(posterior), jax.tree.leaves(posterior_again), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_local_reparameterization_draws_pre_activations_from_their_gaussian():
    """One linear layer: the outputs are N(x mu_W + mu_b, x^2 sigma_W^2 + sigma_b^2), one
    independent draw per example and output."""
    model = MLP([3, 2], rngs=nnx.Rngs(0))
    graphdef, params = split_params(model)
    rng = np.random.default_rng(0)
    cstate = {
        path: GaussianPosteriorState(jnp.asarray(rng.uniform(-2, 0, np.shape(w)), jnp.float32))
        for path, w in leaves_with_paths(params)
    }
    x = jnp.asarray([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    forward = jax.jit(jax.vmap(_mlp_local_forward(model), in_axes=(None, None, None, None, 0)))
    draws = 4000
    out = np.asarray(
        forward(graphdef, params, cstate, x, jax.random.split(jax.random.key(1), draws))
    )
    weights = {p: np.asarray(w, np.float64) for p, w in leaves_with_paths(params)}
    var = {p: np.exp(2 * np.asarray(s.log_sigma, np.float64)) for p, s in cstate.items()}
    xs = np.asarray(x, np.float64)
    mean = xs @ weights["layers/0/kernel"] + weights["layers/0/bias"]
    variance = xs**2 @ var["layers/0/kernel"] + var["layers/0/bias"]
    z = (out - mean) / np.sqrt(variance)  # [draws, 2 examples, 2 outputs]
    assert np.all(np.abs(z.mean(axis=0)) < 5 / math.sqrt(draws))
    assert np.all(np.abs(z.var(axis=0) - 1) < 5 * math.sqrt(2 / draws))
    # The two examples draw independently (a shared weight sample would correlate them).
    assert abs(np.corrcoef(z[:, 0, 0], z[:, 1, 0])[0, 1]) < 5 / math.sqrt(draws)


def test_variational_samples_whole_networks_for_a_pooled_mlp():
    data = load("digits")
    x, y = data.x_train[:100], data.y_train[:100]
    model = MLP([16, 10], pool=2, image_shape=(8, 8), rngs=nnx.Rngs(0))
    report, _ = variational(model, x, y, epochs=1, batch_size=50, samples=1)
    assert not report.details["local_reparameterization"]
    assert np.isfinite(report.total_bits) and report.parts["prior_scales"] == 64


def test_description_length_report_round_trips_and_reads_well():
    report = DescriptionLength(
        "two_part",
        {"params": 100.0, "data": 50.5},
        10,
        4,
        real=True,
        details={"test_accuracy": 0.9},
    )
    again = DescriptionLength.from_json(report.to_json())
    assert again == report
    assert report.total_bits == 150.5 and report.bits_per_example == 15.05
    assert report.ratio_to_uniform == pytest.approx(150.5 / 20)
    text = str(report)
    assert "two_part code (real bytes): 150 bits" in text and "params" in text
    with pytest.raises(ValueError, match="part 'data' must be a finite"):
        DescriptionLength("x", {"data": float("nan")}, 10, 4)
    with pytest.raises(ValueError, match="num_examples >= 1"):
        DescriptionLength("x", {"data": 1.0}, 0, 4)


def test_chunk_boundaries_double_and_bad_schedules_are_refused():
    assert chunk_boundaries(100, first=8) == (8, 16, 32, 64, 100)
    assert chunk_boundaries(60_000)[:3] == (8, 16, 32) and chunk_boundaries(60_000)[-2:] == (
        32_768,
        60_000,
    )
    assert chunk_boundaries(100, schedule=[10, 50]) == (10, 50, 100)
    with pytest.raises(ValueError, match="strictly increasing"):
        chunk_boundaries(100, schedule=[10, 10, 50])
    with pytest.raises(ValueError, match="beyond the 100 examples"):
        chunk_boundaries(100, schedule=[10, 200])
    with pytest.raises(ValueError, match="start at >= 2"):
        chunk_boundaries(100, schedule=[1, 5])
    with pytest.raises(ValueError, match="at least 2 examples"):
        chunk_boundaries(1)
    assert chunk_boundaries(100, first=8, ratio=1.5) == (8, 12, 18, 27, 40, 60, 90, 100)
    assert chunk_boundaries(6, first=2, ratio=1.01) == (2, 3, 4, 5, 6)  # at least one a chunk
    with pytest.raises(ValueError, match="ratio must be a finite number > 1"):
        chunk_boundaries(100, ratio=1.0)
    with pytest.raises(ValueError, match="more than 4096 chunks"):
        chunk_boundaries(10_000, first=2, ratio=1.0001)
    with pytest.raises(ValueError, match=r"unknown prequential option\(s\) \['epochs'\]; known"):
        prequential(mlp_fn, np.zeros((10, 5)), np.zeros(10, int), num_classes=3, epochs=3)
    with pytest.raises(ValueError, match="not both"):
        prequential(
            mlp_fn, np.zeros((10, 5)), np.zeros(10, int), num_classes=3, schedule=[4], ratio=1.5
        )


def test_empty_or_mislabelled_data_is_refused():
    x = np.zeros((0, 5), np.float32)
    with pytest.raises(ValueError, match="at least one example"):
        prequential(mlp_fn, x, np.zeros(0, int), num_classes=3)
    with pytest.raises(ValueError, match="one integer label per example"):
        prequential(mlp_fn, np.zeros((10, 5)), np.zeros(9, int), num_classes=3)
    with pytest.raises(ValueError, match="beyond num_classes=3"):
        prequential(mlp_fn, np.zeros((10, 5)), np.full(10, 3), num_classes=3)
    with pytest.raises(ValueError, match="at least one example"):
        variational(mlp_fn(nnx.Rngs(0)), x, np.zeros(0, int))
