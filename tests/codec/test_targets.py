"""Target files of every data code: exact round trips, lengths next to an estimate computed
here with scipy, bin centres for real values, and CodecError for bad bytes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from mdl.codec import CodecError, container, encode_labels
from mdl.codec.targets import (
    coded_targets,
    decode_targets,
    encode_targets,
    side_bits,
    softmax_rows,
    target_bits,
)
from mdl.codes.data_codes import (
    bernoulli,
    categorical,
    discretized_gaussian,
    discretized_logistic,
    next_token,
)
from mdl.testing import (
    CODER_FLOOR_BITS,
    assert_target_file_is_estimate,
    data_code_problems,
    target_file_header_bits,
)

LN2 = math.log(2)


def reference_bits(code, outputs, targets) -> np.ndarray:
    """``-log2 p`` of every coded target, from scipy (independent of mdl.codes and mdl.codec)."""
    outputs = np.asarray(outputs, np.float64)
    if code.name == "categorical":
        return -special.log_softmax(outputs, axis=-1)[np.arange(len(targets)), targets] / LN2
    if code.name == "bernoulli":
        sign = np.where(np.asarray(targets) > 0.5, 1.0, -1.0)
        return (-special.log_expit(sign * outputs) / LN2).reshape(-1)
    if code.name == "next_token":
        valid = targets != -1
        log_probs = special.log_softmax(outputs[valid], axis=-1)
        return -log_probs[np.arange(int(valid.sum())), targets[valid]] / LN2
    width = dict(code.options)["bin_width"]
    dist = stats.norm if code.name == "discretized_gaussian" else stats.logistic
    mean, scale = outputs[..., 0].reshape(-1), np.exp(outputs[..., 1]).reshape(-1)
    centre = np.rint(np.asarray(targets, np.float64).reshape(-1) / width) * width
    lo, hi = (centre - width / 2 - mean) / scale, (centre + width / 2 - mean) / scale
    # Each bin's mass on the side of the distribution where it is a difference of small numbers.
    mass = np.where(centre > mean, dist.sf(lo) - dist.sf(hi), dist.cdf(hi) - dist.cdf(lo))
    return -np.log2(mass)


def reference_padding_bits(tokens) -> float:
    """The cheapest of: nothing, nothing again when every sequence is real tokens then padding
    and ends with one token it holds nowhere else (the same for all), each length under a
    uniform code over 0..T (when every sequence is real tokens then padding), every position's
    flag under Bernoulli(k / N)."""
    valid = tokens != -1
    n, steps = valid.shape
    k, total = int(valid.sum()), valid.size
    if k == total:
        return 0.0
    mask = total * stats.entropy([k / total, 1 - k / total], base=2)
    prefix = all(np.all(row[: row.sum()]) for row in valid)
    sequences = [[int(t) for t in row if t != -1] for row in tokens]
    if prefix and all(sequences) and len({s[-1] for s in sequences}) == 1:
        if all(s.count(s[-1]) == 1 for s in sequences):
            return 0.0
    return min(mask, n * math.log2(steps + 1)) if prefix else mask


@settings(max_examples=50)
@given(data_code_problems())
def test_every_file_decodes_exactly_and_its_length_is_the_codes_bits(problem):
    assert_target_file_is_estimate(*problem)


def test_strings_with_an_end_symbol_pay_nothing_for_their_lengths():
    """Framed strings (``aab#``, padded): the model's prediction of ``#`` is the length code,
    so the file is the estimate plus its header alone; a sequence that never ends, or a
    header that declares more tokens, is a CodecError."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 9, 40)
    tokens = np.full((40, 10), -1, np.int64)
    for i, length in enumerate(lengths):
        tokens[i, : length - 1] = rng.integers(1, 4, length - 1)
        tokens[i, length - 1] = 0
    logits = rng.normal(size=(40, 10, 4)).astype(np.float32)
    code = next_token()
    assert side_bits(code, tokens) == 0.0
    data = encode_targets(code, logits, tokens)
    np.testing.assert_array_equal(decode_targets(code, logits, data), tokens)
    estimate = float(reference_bits(code, logits, tokens).sum())
    assert 8 * len(data) <= estimate + target_file_header_bits(data) + 96 + 1e-3 * estimate
    # The same tokens with the end symbol also inside one sequence: lengths are coded.
    inside = tokens.copy()
    inside[int(np.argmax(lengths > 1)), 0] = 0
    assert side_bits(code, inside) > 0
    np.testing.assert_array_equal(
        decode_targets(code, logits, encode_targets(code, logits, inside)), inside
    )
    with pytest.raises(CodecError):
        decode_targets(code, np.roll(logits, 1, axis=-1), data)


@settings(max_examples=80)
@given(data_code_problems())
def test_file_length_is_an_independent_estimate_plus_the_stated_overhead(problem):
    code, outputs, targets = problem
    bits = reference_bits(code, outputs, targets)
    estimate = float(bits.sum())
    side = reference_padding_bits(targets) if code.name == "next_token" else 0.0
    assert side_bits(code, targets) == pytest.approx(side, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(target_bits(code, outputs, targets), bits, rtol=1e-6, atol=1e-6)
    data = encode_targets(code, outputs, targets)
    real, header = 8 * len(data), target_file_header_bits(data)
    floor = float(np.sum(np.maximum(bits - CODER_FLOOR_BITS, 0.0)))
    assert real <= estimate + side + header + 96 + 1e-3 * estimate + 1
    assert real >= estimate + side + header - 64 - floor - 1e-3 * estimate
    # The header is framing, a few varints and a CRC-32: 224 + 32 bits and a varint or five.
    assert 256 < header <= 400
    np.testing.assert_array_equal(decode_targets(code, outputs, data), coded_targets(code, targets))


@pytest.mark.parametrize("code", [discretized_gaussian(0.1), discretized_logistic(0.1)])
def test_real_values_come_back_as_bin_centres_within_half_a_bin(code):
    rng = np.random.default_rng(0)
    outputs = np.stack([rng.normal(0, 2, (300, 3)), rng.uniform(-2, 1, (300, 3))], -1)
    outputs = outputs.astype(np.float32)
    values = outputs[..., 0] + np.exp(outputs[..., 1]) * rng.normal(size=(300, 3))
    values = values.astype(np.float32)  # off the grid: the file keeps them at resolution 0.1
    decoded = decode_targets(code, outputs, encode_targets(code, outputs, values))
    assert decoded.shape == values.shape and decoded.dtype == np.float64
    bins = np.rint(values.astype(np.float64) / 0.1)
    np.testing.assert_array_equal(decoded, bins * 0.1)
    assert np.all(np.abs(values - decoded) <= 0.05 + 1e-6)
    # The file codes the centres: its length is the estimate at the centres.
    centres_estimate = float(np.sum(np.asarray(code.bits(outputs, decoded), np.float64)))
    assert_target_file_is_estimate(code, outputs, values, estimate=centres_estimate)


def test_fine_bins_over_a_wide_range_need_no_table_over_bins():
    # 2^31 bins in the data's window: each value is 32 binary decisions, never a table.
    rng = np.random.default_rng(1)
    code = discretized_gaussian(1e-6)
    mean = rng.uniform(-1000, 1000, 200)
    outputs = np.stack([mean, np.full(200, -3.0)], -1)
    values = np.rint((mean + 0.05 * rng.normal(size=200)) / 1e-6) * 1e-6
    estimate, real = assert_target_file_is_estimate(code, outputs, values)
    assert estimate > 200 * 15  # about log2(0.05 sqrt(2 pi e) / 1e-6) = 17.7 bits a value


def test_the_categorical_file_is_the_label_file_byte_for_byte():
    rng = np.random.default_rng(2)
    logits = (3 * rng.normal(size=(50, 4))).astype(np.float32)
    labels = rng.integers(0, 4, 50)
    data = encode_targets(categorical(), logits, labels)
    assert data == encode_labels(softmax_rows(logits), labels)


def test_padding_is_coded_the_cheapest_way():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(40, 16, 5)).astype(np.float32)
    tokens = rng.integers(0, 5, (40, 16))
    full = encode_targets(next_token(), logits, tokens)
    assert side_bits(next_token(), tokens) == 0
    ended = tokens.copy()
    ended[np.arange(16) >= rng.integers(0, 17, 40)[:, None]] = -1
    assert side_bits(next_token(), ended) == pytest.approx(40 * math.log2(17))
    one = tokens.copy()
    one[0, -1] = -1  # one padded position: its mask is far cheaper than 40 lengths
    total = 40 * 16
    expected = -(total - 1) * math.log2((total - 1) / total) + math.log2(total)
    assert side_bits(next_token(), one) == pytest.approx(expected)
    for tokens_ in (ended, one):
        assert_target_file_is_estimate(next_token(), logits, tokens_)
    assert len(encode_targets(next_token(), logits, one)) < len(full) + 8


PROBLEMS = {
    "categorical": (categorical(), np.zeros((20, 3), np.float32), np.arange(20) % 3),
    "bernoulli": (bernoulli(), np.zeros((20, 4), np.float32), np.eye(20, 4, dtype=np.float32)),
    "next_token": (
        next_token(),
        np.zeros((6, 5, 7), np.float32),
        np.where(np.arange(5) < np.arange(6)[:, None], np.arange(30).reshape(6, 5) % 7, -1),
    ),
    "discretized_logistic": (
        discretized_logistic(0.25),
        np.zeros((20, 2), np.float32),
        np.linspace(-3, 3, 20),
    ),
}


@pytest.mark.parametrize("name", PROBLEMS)
@settings(max_examples=25)
@given(data=st.data())
def test_any_flipped_byte_truncation_or_junk_raises_codec_error(name, data):
    code, outputs, targets = PROBLEMS[name]
    blob = encode_targets(code, outputs, targets)
    at = data.draw(st.integers(0, len(blob) - 1))
    flipped = bytearray(blob)
    flipped[at] ^= data.draw(st.integers(1, 255))
    for bad in (bytes(flipped), blob[:at], data.draw(st.binary(max_size=200))):
        with pytest.raises(CodecError):
            decode_targets(code, outputs, bad)


@pytest.mark.parametrize("name", PROBLEMS)
def test_other_outputs_raise_codec_error_not_other_targets(name):
    code, outputs, targets = PROBLEMS[name]
    blob = encode_targets(code, outputs, targets)
    other = np.random.default_rng(4).normal(size=outputs.shape).astype(np.float32)
    with pytest.raises(CodecError):
        decode_targets(code, 3 * other, blob)
    with pytest.raises((CodecError, ValueError)):
        decode_targets(code, outputs[:-1], blob)


def forged(kind: str, varints: list[int], blob: bytes) -> bytes:
    """``blob``'s rANS words under a header that says ``varints`` (a valid container)."""
    words = container.unpack(blob, kind)["RANS"]
    meta = container.varints(varints) + b"\0\0\0\0"
    return container.pack(kind, {"META": meta, "RANS": words})


def test_forged_headers_are_refused_before_anything_is_decoded():
    code, outputs, tokens = PROBLEMS["next_token"]
    blob = encode_targets(code, outputs, tokens)
    for varints in ([7, 5, 1, 15], [6, 5, 9, 15], [6, 5, 2, 10**12], [6, 5, 0, 3], [6, 5, 1]):
        with pytest.raises(CodecError):
            decode_targets(code, outputs, forged("NTOK", varints, blob))
    code, outputs, values = PROBLEMS["discretized_logistic"]
    blob = encode_targets(code, outputs, values)
    for varints in ([21, -12, 12], [20, 12, -12], [20, -(2**60), 2**60], [20, 0]):
        with pytest.raises(CodecError):
            decode_targets(code, outputs, forged("DISC", varints, blob))
    with pytest.raises(CodecError, match="container holds"):
        decode_targets(next_token(), np.zeros((20, 1, 3)), encode_targets(*PROBLEMS["categorical"]))


def test_bad_arguments_are_refused_with_clear_errors():
    code, outputs, targets = PROBLEMS["categorical"]
    with pytest.raises(ValueError, match="leading"):
        encode_targets(code, outputs[:5], targets)
    with pytest.raises(ValueError, match="labels must lie in"):
        encode_targets(code, outputs, targets + 3)
    with pytest.raises(TypeError, match="DataCode"):
        encode_targets("categorical", outputs, targets)
    gaussian = discretized_gaussian(1e-9)
    with pytest.raises(ValueError, match="beyond 2\\^50 bins"):
        encode_targets(gaussian, np.zeros((2, 2)), np.array([0.0, 1e7]))
    with pytest.raises(ValueError, match="outputs must be finite"):
        encode_targets(gaussian, np.array([[0.0, np.nan]]), np.array([0.0]))
    with pytest.raises(ValueError, match="needs real-valued targets"):
        encode_targets(gaussian, np.zeros((2, 2)), np.array([0, 1]))
