"""The one rANS writer and reader: segments, streaming, blocks of rows, the floor check."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.codec import CodecError, container, rans
from mdl.codec.stream import LabelChunkDecoder, decode_labels, encode_label_chunks, encode_labels


def rows_and_labels(rng, n: int, classes: int):
    probs = rng.dirichlet(np.full(classes, 0.5), size=n)
    labels = (probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1).clip(0, classes - 1)
    return probs, labels


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 6), st.booleans()), max_size=5),
    st.integers(0, 2**32 - 1),
    st.sampled_from([8, 64, 1 << 17]),
)
def test_segments_of_vectors_and_rows_round_trip(spec, seed, block):
    """Mixed segments (vectors, rows, one-symbol alphabets, empty ones), with blocks of rows
    small enough that a segment spans several: decoded exactly, in order."""
    rng = np.random.default_rng(seed)
    old = rans.BLOCK_ELEMENTS
    rans.BLOCK_ELEMENTS = block
    try:
        segments, plans = [], []
        for count, classes, per_row in spec:
            if per_row:
                probs, symbols = rows_and_labels(rng, count, classes)
                table = rans.Rows(probs)
            else:
                table = rans.vector_table(rng.dirichlet(np.ones(classes)))
                symbols = rng.integers(0, classes, count)
            segments.append((symbols, table))
            plans.append((table, count))
        words = rans.encode(segments)
        decoded = rans.decode(words, plans)
        if all(rans.alphabet(t) == 1 or not np.size(s) for s, t in segments):
            assert words == b""
        reader = rans.Reader(words)
        streamed = [reader.pop(table, count) for table, count in plans]
        reader.finish()
    finally:
        rans.BLOCK_ELEMENTS = old
    for (symbols, _), got, again in zip(segments, decoded, streamed, strict=True):
        assert np.array_equal(got, symbols) and np.array_equal(again, symbols)


def test_rows_are_checked_block_by_block_with_the_usual_messages():
    probs = np.full((5000, 4), 0.25)
    labels = np.zeros(5000, np.int64)
    for index, value, message in [
        ((4321, 2), -0.1, "non-negative"),
        ((4999, 0), np.nan, "finite"),
        ((17, 3), np.inf, "finite"),
        ((3000, 1), 0.5, "sum to 1"),
    ]:
        bad = probs.copy()
        bad[index] = value
        with pytest.raises(ValueError, match=f"probs must (be )?{message}"):
            encode_labels(bad, labels)
        data = encode_labels(probs, labels)
        with pytest.raises(ValueError, match=message) as caught:
            decode_labels(bad, data)
        assert not isinstance(caught.value, CodecError)  # the caller's rows, not the bytes
    with pytest.raises(ValueError, match="must have shape"):
        encode_labels(probs[None], labels)


def test_the_rows_dtype_does_not_change_the_code():
    """Rows are read as float64 whatever their dtype: float32 rows and their float64 values
    give the same bytes, and decode each other's."""
    probs, labels = rows_and_labels(np.random.default_rng(0), 3000, 7)
    single = probs.astype(np.float32)
    data = encode_labels(single, labels)
    assert data == encode_labels(single.astype(np.float64), labels)
    assert np.array_equal(decode_labels(single.astype(np.float64), data), labels)
    assert np.array_equal(decode_labels(np.asfortranarray(single), data), labels)


def test_label_chunks_refuse_forged_counts_before_decoding_past_the_bytes():
    """The chunk decoder makes the floor check the other streams make: a chunk the remaining
    bytes cannot hold is refused as soon as its rows show it, not after all chunks."""
    rng = np.random.default_rng(1)
    probs, labels = rows_and_labels(rng, 200, 10)
    sections = container.unpack(encode_label_chunks([(probs, labels)]), "LABC")
    meta = container.varints([2, 200, 100_000, 10]) + sections["META"][-4:]
    forged = container.pack("LABC", {"META": meta, "RANS": sections["RANS"]})
    decoder = LabelChunkDecoder(forged)
    assert np.array_equal(decoder.decode(probs), labels)
    uniform = np.full((100_000, 10), 0.1)
    with pytest.raises(CodecError, match="can hold"):
        decoder.decode(uniform)


def test_a_stream_of_free_segments_has_no_words():
    assert rans.encode([(np.zeros(5, np.int64), np.ones(1))]) == b""
    sentinel_only = rans.encode([(np.zeros(1, np.int64), np.array([0.5, 0.5]))])
    with pytest.raises(CodecError, match="no coded words"):
        rans.decode(sentinel_only, [(np.ones(1), 5)])
    with pytest.raises(CodecError, match="holds no coded words"):
        rans.decode(b"", [(np.array([0.5, 0.5]), 5)])
    with pytest.raises(CodecError, match="32-bit words"):
        rans.decode(b"abc", [(np.array([0.5, 0.5]), 5)])
