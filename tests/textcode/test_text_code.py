"""The text codes are real: every archive decodes to its input byte for byte, random bytes are
never compressed, and bad archives fail with CodecError (never a crash, hang or wrong bytes)."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdl.codec import container
from mdl.codec.errors import CodecError
from mdl.codec.range_stream import RowReader, RowWriter
from mdl.textcode import TextCodeSettings, compress_text, decompress_text, read_header
from mdl.textcode.streams import Streams

TINY = {"embed_dim": 4, "hidden": 8, "streams": 4, "window": 4, "epochs": 1}
TINY_TWO_PART = {**TINY, "train_streams": 4, "train_window": 8}


def tiny(method: str) -> TextCodeSettings:
    return TextCodeSettings(method=method, **(TINY if method == "online" else TINY_TWO_PART))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=300), method=st.sampled_from(["online", "two-part"]))
def test_any_bytes_round_trip(data, method):
    archive = compress_text(data, tiny(method))
    assert decompress_text(archive) == data


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(64, 2000))
def test_random_bytes_cost_at_least_eight_bits_each(seed, size):
    """No hypercompression: uniform random bytes cannot be coded in fewer than 8 bits each on
    average (plus the header), whatever the model learns. Checked against the information
    content of the source, 8 bits per byte, not against the library."""
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    for method in ("online", "two-part"):
        archive = compress_text(data, tiny(method))
        # A code can beat the source entropy only by luck; by Kraft, P(saving k bits) <= 2^-k.
        assert 8 * len(archive) >= 8 * size - 20, method
        assert decompress_text(archive) == data


def test_archive_size_is_the_information_content_plus_a_header():
    """The coded text costs what the model's probabilities say, within the coder's words: the
    progress callback's running -log2 p sum against the DATA section's size."""
    data = b"abracadabra " * 200
    seen = []
    archive = compress_text(data, tiny("online"), progress=lambda n, bits: seen.append(bits))
    payload = container.unpack(archive, "TEXT")["DATA"]
    ideal = seen[-1]
    assert ideal <= 8 * len(payload) + 64
    assert 8 * len(payload) <= ideal * 1.01 + 64


def test_online_code_learns_repetitive_text():
    data = b"the quick brown fox jumps over the lazy dog. " * 100
    archive = compress_text(data, dataclasses.replace(tiny("online"), hidden=32))
    assert 8 * len(archive) / len(data) < 4.0  # a uniform code over its 29 symbols: 4.86
    assert decompress_text(archive) == data


def test_a_100_kb_slice_of_kjv_round_trips_with_both_methods(kjv_path):
    data = kjv_path.read_bytes()[:100_000]
    online = compress_text(data, TextCodeSettings(method="online", hidden=64))
    assert decompress_text(online) == data
    assert 8 * len(online) / len(data) < 3.0  # xz -9e on this slice: about 2.5
    two_part = compress_text(
        data, TextCodeSettings(method="two-part", hidden=32, epochs=1, train_window=32)
    )
    assert decompress_text(two_part) == data
    header = read_header(two_part)
    assert header["length"] == len(data) and header["method"] == "two-part"


def test_empty_and_non_bytes_input_are_refused():
    with pytest.raises(ValueError, match="empty"):
        compress_text(b"", tiny("online"))
    with pytest.raises(TypeError, match="bytes"):
        compress_text("text", tiny("online"))
    with pytest.raises(ValueError, match="method"):
        TextCodeSettings(method="gzip")
    with pytest.raises(ValueError, match="streams"):
        TextCodeSettings(streams=0)


@pytest.fixture(scope="module")
def archive():
    return compress_text(b"In the beginning God created the heaven and the earth.", tiny("online"))


def test_truncated_or_corrupted_archives_raise_codec_error(archive):
    for cut in (0, 5, len(archive) // 2, len(archive) - 1):
        with pytest.raises(CodecError):
            decompress_text(archive[:cut])
    for index in (12, len(archive) // 2, len(archive) - 5):
        flipped = bytearray(archive)
        flipped[index] ^= 0x40
        with pytest.raises(CodecError):
            decompress_text(bytes(flipped))


def _repacked(archive, **changes) -> bytes:
    """The archive with header fields changed and a valid container checksum: what a forger
    (or a file from another version of mdl) would hand the decoder."""
    import json

    sections = container.unpack(archive, "TEXT")
    head = json.loads(sections["HEAD"])
    head.update(changes)
    sections["HEAD"] = json.dumps(head).encode()
    return container.pack("TEXT", sections)


def test_forged_headers_fail_cleanly(archive):
    with pytest.raises(CodecError, match="bytes"):
        decompress_text(_repacked(archive, length=-3))
    with pytest.raises(CodecError, match="settings"):
        decompress_text(_repacked(archive, settings={"method": "online", "streams": 0}))
    # A declared length far beyond what the coded words hold stops within a step, no hang.
    with pytest.raises(CodecError):
        decompress_text(_repacked(archive, length=10_000_000))
    with pytest.raises(CodecError, match="checksum"):
        decompress_text(_repacked(archive, crc32=0))
    # Lengths and widths that would make the decoder allocate gigabytes are refused first.
    with pytest.raises(CodecError, match="max_bytes"):
        decompress_text(_repacked(archive, length=1 << 30))
    forged = {**tiny("online").to_dict(), "hidden": 10**6}
    with pytest.raises(CodecError, match="hidden must be at most"):
        decompress_text(_repacked(archive, settings=forged))


def test_another_environment_is_refused_unless_asked(archive):
    other = _repacked(archive, environment={"machine": "riscv64"})
    with pytest.raises(ValueError, match="another environment"):
        decompress_text(other)
    assert decompress_text(other, check_environment=False).startswith(b"In the beginning")


def test_range_reader_refuses_to_read_past_its_bytes():
    rows = np.full((64, 4), 0.25)
    writer = RowWriter()
    writer.write(np.arange(64) % 4, rows)
    reader = RowReader(writer.finish())
    assert np.array_equal(reader.read(rows), np.arange(64) % 4)
    with pytest.raises(CodecError, match="ends before"):
        for _ in range(100):
            reader.read(rows)


@given(n=st.integers(0, 500), streams=st.integers(1, 40))
def test_streams_layout_against_a_brute_force_count(n, streams):
    layout = Streams.of(n, streams)
    symbols = np.arange(n, dtype=np.int32)
    grid = layout.grid(symbols)
    assert np.array_equal(layout.flat(grid), symbols)
    for t in range(layout.length):
        # Independent count: the text positions b * length + t that exist.
        expected = sum(1 for b in range(layout.streams) if b * layout.length + t < n)
        assert layout.active(t) == expected
        assert layout.mask(t, t + 1)[:, 0].sum() == expected
    assert layout.streams * layout.length >= n
    assert layout.length == (math.ceil(n / layout.streams) if n else 0)


def test_a_model_trained_on_one_text_codes_another_fixed_or_fine_tuned():
    from mdl.textcode import train_text_model

    first = b"and god said let there be light and there was light. " * 30
    second = b"let there be a firmament in the midst of the waters. " * 10
    model = train_text_model(first, tiny("two-part"), alphabet=first + second)
    assert 8 * len(model.model_file) > 0
    for method in ("two-part", "online"):
        archive = compress_text(second, tiny(method), model=model)
        sections = container.unpack(archive, "TEXT")
        assert sections["MODL"] == model.model_file  # the model's bits are in the archive
        assert decompress_text(archive) == second
    with pytest.raises(ValueError, match="alphabet lacks"):
        compress_text(b"XYZ", tiny("two-part"), model=model)


def test_scanned_text_bits_equal_the_coders_ideal_bits_and_the_bound_holds_them():
    """`text_bits` (a scan over windows) against the archive's own running sum of -log2 p
    (the coder's step loop) for the same model and layout; smoothing only adds bits up to
    -log2(1 - alpha) each; the bound lies above the smoothed training bits."""
    from mdl.textcode import train_text_model
    from mdl.textcode.evaluate import text_bits, text_occam_bound

    data = b"in the beginning was the word, and the word was with god. " * 20
    model = train_text_model(data, tiny("two-part"))
    seen = []
    settings = dataclasses.replace(tiny("two-part"), streams=8)
    compress_text(data, settings, model=model, progress=lambda n, bits: seen.append(bits))
    plain = text_bits(model, data, streams=8, window=16)
    assert plain == pytest.approx(seen[-1], rel=1e-4)
    smoothed = text_bits(model, data, streams=8, smoothing=0.01)
    assert plain - 1e-3 <= smoothed <= plain - len(data) * math.log2(0.99) + 1e-3
    bound = text_occam_bound(model, data, code_bits=8 * len(model.model_file), smoothing=0.01)
    assert bound["train_bpc"] <= bound["bound_bpc"] <= bound["max_bits"]
