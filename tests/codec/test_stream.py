"""rANS symbol streams and labels: exact round trips, sizes next to the information content,
and clear errors for bad input and bad bytes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.codec import (
    CodecError,
    container,
    decode_labels,
    decode_symbols,
    encode_labels,
    encode_symbols,
)
from mdl.codes.priors import DiscretizedLaplace, DiscretizedMixture, SpikeAndSlab
from mdl.testing import categorical_streams, labelled_predictions, quantized_weights

# Stated overhead of the coder: its final state (at most two 32-bit words), the 32-bit sentinel
# that lifts its initial state, and the 24-bit quantization of probabilities (below 0.1% of the
# information content).
STATE_BITS = 96
RELATIVE_OVERHEAD = 1e-3


def rans_bits(data: bytes, kind: str) -> int:
    return 8 * len(container.unpack(data, kind)["RANS"])


def reference_information_bits(probs, symbols):
    """-sum log2 p, computed here with numpy (independent of mdl.codec.information_bits)."""
    probs = np.asarray(probs, dtype=np.float64)
    picked = probs[symbols] if probs.ndim == 1 else probs[np.arange(len(symbols)), symbols]
    return float(
        -np.sum(np.log2(picked / (probs.sum(axis=-1) if probs.ndim == 1 else probs.sum(axis=-1))))
    )


@given(categorical_streams())
def test_symbol_streams_round_trip(stream):
    probs, symbols = stream
    decoded = decode_symbols(encode_symbols(symbols, probs), probs)
    assert decoded.dtype == np.int64
    np.testing.assert_array_equal(decoded, symbols)


@given(categorical_streams(max_symbols=2000))
def test_coded_size_is_close_to_the_information_content(stream):
    probs, symbols = stream
    info = reference_information_bits(probs, symbols)
    real = rans_bits(encode_symbols(symbols, probs), "SYMS")
    assert real <= info * (1 + RELATIVE_OVERHEAD) + STATE_BITS
    if probs.min() >= 2.0**-16:
        # Far above the coder's 2^-24 probability floor, no code beats the information content
        # by more than the coder's state (the decoder also knows the count).
        assert real >= info - STATE_BITS


@given(st.data())
def test_multidimensional_symbols_keep_their_shape(data):
    shape = data.draw(st.sampled_from([(0,), (3, 4), (2, 1, 5)]))
    symbols = np.random.default_rng(0).integers(0, 5, size=shape)
    probs = np.full(5, 0.2)
    np.testing.assert_array_equal(decode_symbols(encode_symbols(symbols, probs), probs), symbols)


@given(labelled_predictions())
def test_labels_round_trip_and_cost_their_information(problem):
    probs, labels = problem
    data = encode_labels(probs, labels)
    np.testing.assert_array_equal(decode_labels(probs, data), labels)
    info = reference_information_bits(probs, labels)
    assert rans_bits(data, "LABL") <= info * (1 + RELATIVE_OVERHEAD) + STATE_BITS


@given(quantized_weights(size=128))
def test_prior_coded_weights_cost_the_training_time_rate(weights):
    """The codec's bits equal the prior's differentiable rate (used in training) up to the
    coder's overhead: the estimate and the file agree."""
    loc, scale, symbols = weights
    prior = DiscretizedLaplace(np.float32(loc), np.float32(scale))
    data = encode_symbols(symbols, prior)
    np.testing.assert_array_equal(decode_symbols(data, prior), symbols)
    bits = np.asarray(prior.bits(symbols), dtype=np.float64)
    rate = float(np.sum(bits))
    real = rans_bits(data, "SYMS")
    assert real <= rate * (1 + RELATIVE_OVERHEAD) + STATE_BITS + 1e-3 * len(symbols)
    if bits.max() < 16:  # far from the coder's 2^-24 probability floor: no cheaper either
        assert real >= rate * (1 - RELATIVE_OVERHEAD) - STATE_BITS - 1e-3 * len(symbols)


def test_mixture_and_spike_priors_round_trip():
    rng = np.random.default_rng(1)
    symbols = np.where(rng.random(500) < 0.8, 0, np.round(rng.normal(0, 6, 500))).astype(int)
    for prior in (
        SpikeAndSlab(1.5, DiscretizedLaplace(0.0, 5.0)),
        DiscretizedMixture(
            np.zeros(2), DiscretizedLaplace(np.array([-6.0, 6.0]), np.array([2.0, 2.0]))
        ),
    ):
        np.testing.assert_array_equal(
            decode_symbols(encode_symbols(symbols, prior), prior), symbols
        )


def test_decoding_with_another_model_is_an_error_not_garbage():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(10), size=300)
    labels = rng.integers(0, 10, size=300)
    data = encode_labels(probs, labels)
    with pytest.raises(CodecError):
        decode_labels(rng.dirichlet(np.ones(10), size=300), data)
    with pytest.raises(CodecError, match="rows"):
        decode_labels(probs[:10], data)
    with pytest.raises(CodecError, match="holds b'LABL'"):
        decode_symbols(data, probs)


@given(categorical_streams(max_symbols=200), st.data())
def test_any_flipped_byte_or_truncation_raises_codec_error(stream, data):
    probs, symbols = stream
    encoded = encode_symbols(symbols, probs)
    position = data.draw(st.integers(0, len(encoded) - 1))
    flip = data.draw(st.integers(1, 255))
    corrupted = bytearray(encoded)
    corrupted[position] ^= flip
    with pytest.raises(CodecError):
        decode_symbols(bytes(corrupted), probs)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(CodecError):
        decode_symbols(encoded[:cut], probs)


@given(st.binary(max_size=200), st.binary(max_size=64))
def test_random_bytes_never_crash(junk, meta):
    """Raw junk, and junk framed in a valid container (so it passes the checksum and reaches
    the parser and the rANS decoder), either decode or raise CodecError."""
    probs = np.array([0.5, 0.25, 0.25])
    for data in (junk, container.pack("SYMS", {"META": meta, "RANS": junk})):
        try:
            decoded = decode_symbols(data, probs)
        except CodecError:
            continue
        assert decoded.min(initial=0) >= 0 and decoded.max(initial=0) < 3


def test_forged_count_is_refused_before_allocating():
    meta = container.varints([1, 10**15, 0, 3]) + b"\0\0\0\0"
    forged = container.pack("SYMS", {"META": meta, "RANS": b"\1\0\0\0"})
    with pytest.raises(CodecError, match="max_symbols"):
        decode_symbols(forged, np.array([0.5, 0.25, 0.25]))
    meta = container.varints([1, 10**6, 0, 3]) + b"\0\0\0\0"
    forged = container.pack("SYMS", {"META": meta, "RANS": b"\1\0\0\0"})
    with pytest.raises(CodecError, match="can hold"):
        decode_symbols(forged, np.array([0.5, 0.25, 0.25]))


@pytest.mark.parametrize(
    "probs, symbols, message",
    [
        (np.array([0.5, 0.6]), [0], "must sum to 1"),
        (np.array([1.5, -0.5]), [0], "non-negative"),
        (np.array([np.nan, 1.0]), [0], "finite"),
        (np.array([0.5, 0.5]), [2], r"must lie in \[0, 2\)"),
        (np.array([0.5, 0.5]), [-1], r"must lie in \[0, 2\)"),
        (np.array([0.5, 0.5]), [0.5], "symbols must hold integers"),
        (np.full((3, 2), 0.5), [0, 1], r"must have shape \[3\]"),
        (np.zeros((0,)), [], "non-empty"),
    ],
)
def test_bad_symbol_input_is_refused(probs, symbols, message):
    with pytest.raises((ValueError, TypeError), match=message):
        encode_symbols(np.array(symbols), probs)


def test_bad_label_input_is_refused():
    probs = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match="probs must have shape"):
        encode_labels(probs[0], np.zeros(4, int))
    with pytest.raises(ValueError, match=r"labels must have shape \[4\]"):
        encode_labels(probs, np.zeros(5, int))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        encode_labels(probs, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="probs must sum to 1"):
        encode_labels(probs * 0.9, np.zeros(4, int))


@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=6),
    st.integers(2, 8),
    st.integers(0, 2**32 - 1),
)
def test_label_chunks_round_trip_chunk_by_chunk(sizes, classes, seed):
    from mdl.codec.stream import LabelChunkDecoder, encode_label_chunks

    rng = np.random.default_rng(seed)
    chunks = []
    for n in sizes:
        probs = rng.dirichlet(np.ones(classes), size=n)
        labels = np.array([rng.choice(classes, p=row) for row in probs], dtype=np.int64)
        chunks.append((probs, labels))
    data = encode_label_chunks(chunks)
    information = sum(-np.log2(p[np.arange(len(y)), y]).sum() for p, y in chunks)
    assert 8 * len(data) >= information - 64
    decoder = LabelChunkDecoder(data)
    for probs, labels in chunks:
        assert decoder.next_size == len(labels)
        assert np.array_equal(decoder.decode(probs), labels)
    assert len(decoder.finish()) == sum(sizes)


def test_label_chunks_refuse_truncation_and_wrong_probabilities():
    from mdl.codec.stream import LabelChunkDecoder, encode_label_chunks

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, 50)
    data = encode_label_chunks([(probs[:20], labels[:20]), (probs[20:], labels[20:])])
    with pytest.raises(CodecError):
        LabelChunkDecoder(data[:-3])
    decoder = LabelChunkDecoder(data)
    decoder.decode(probs[:20])
    with pytest.raises(ValueError, match=r"needs probs of shape \(30, 4\)"):
        decoder.decode(probs[:10])
    other = rng.dirichlet(np.ones(4), size=30)
    with pytest.raises(CodecError):
        decoder.decode(other)
        decoder.finish()
