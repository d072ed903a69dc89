"""Every leaf type through both model formats: exact round trips, sizes next to the
information content, corruption and forged priors refused."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mdl.codec import CodecError, container
from mdl.codec.compact import decode_compact, encode_compact
from mdl.codec.container import varints
from mdl.codec.leaves import (
    CodebookLeaf,
    GroupedLeaf,
    LiveBlockLeaf,
    LowRankLeaf,
    QuantizedLeaf,
    RawLeaf,
    SparseLeaf,
    group_bounds,
    leaf_shape,
)
from mdl.codec.meta import Cursor, prior_bytes
from mdl.codec.model import decode_model, encode_model
from mdl.codes.priors import (
    DiscretizedGaussian,
    DiscretizedLaplace,
    DiscretizedLogistic,
    DiscretizedMixture,
    DiscretizedUniform,
    SpikeAndSlab,
    probability_table,
)

f32 = st.floats(-8, 8, allow_nan=False, width=32).map(np.float32)
scales = st.floats(0.25, 20, width=32).map(np.float32)


@st.composite
def priors(draw, depth: int = 0):
    kind = draw(
        st.sampled_from(
            ["symmetric", "uniform", "spike", "mixture"] if not depth else ["symmetric"]
        )
    )
    if kind == "uniform":
        return DiscretizedUniform(np.float32(draw(st.integers(0, 40))))
    if kind == "spike":
        return SpikeAndSlab(draw(f32), draw(priors(depth + 1)))
    family = draw(st.sampled_from([DiscretizedLaplace, DiscretizedGaussian, DiscretizedLogistic]))
    if kind == "mixture":
        m = draw(st.integers(2, 3))
        vectors = hnp.arrays(np.float32, m, elements=st.floats(0.25, 8, width=32))
        return DiscretizedMixture(draw(vectors) - 4, family(draw(vectors) - 4, draw(vectors)))
    return family(draw(f32), draw(scales))


def bins(draw, shape, prior):
    """Integer bins a compressor could give under ``prior`` (inside a uniform's support)."""
    # Few distinct ranges: each new (prior structure, padded range) compiles a JAX program.
    half = int(prior.half_width) if isinstance(prior, DiscretizedUniform) else 30
    return draw(hnp.arrays(np.int64, shape, elements=st.integers(-half, half)))


shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)
steps = st.floats(0.0009765625, 1, width=32).map(np.float32)


@st.composite
def leaves(draw):
    kind = draw(
        st.sampled_from(
            ["raw", "quantized", "grouped", "sparse", "codebook", "low_rank", "live_block"]
        )
    )
    if kind == "live_block":
        shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=6))
        prior = draw(priors())
        symbols = bins(draw, shape, prior)
        # Dead input and output units (whole rows and columns of zeros), as pruning leaves them.
        symbols[..., draw(hnp.arrays(np.bool_, shape[-2])), :] = 0
        symbols[..., draw(hnp.arrays(np.bool_, shape[-1]))] = 0
        groups = draw(st.integers(1, max(shape[-1], 1)))
        group_steps = draw(hnp.arrays(np.float32, groups, elements=steps))
        return LiveBlockLeaf(symbols, group_steps, prior)
    if kind == "low_rank":
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6))
        m, n = math.prod(shape[:-1]), shape[-1]
        rank = draw(st.integers(1, min(m, n)))
        sides = []
        for side in ((m, rank), (rank, n)):
            prior = draw(priors())
            sides.append(QuantizedLeaf(bins(draw, side, prior), draw(steps), prior))
        return LowRankLeaf(sides[0], sides[1], shape)
    shape = draw(shapes)
    if kind == "raw":
        return RawLeaf(draw(hnp.arrays(np.float32, shape, elements=f32)))
    if kind == "quantized":
        prior = draw(priors())
        return QuantizedLeaf(bins(draw, shape, prior), draw(steps), prior)
    if kind == "grouped":
        groups = draw(st.integers(1, max(shape[-1], 1)))
        shared = draw(priors())
        chosen = [shared if draw(st.booleans()) else draw(priors()) for _ in range(groups)]
        if any(isinstance(p, DiscretizedUniform) for p in chosen):  # keep bins in every support
            chosen = [shared if isinstance(shared, DiscretizedUniform) else p for p in chosen]
            chosen = [DiscretizedUniform(np.float32(40)) for _ in chosen]
        symbols = bins(draw, shape, chosen[0])
        group_steps = draw(
            hnp.arrays(np.float32, groups, elements=st.floats(0.0009765625, 1, width=32))
        )
        return GroupedLeaf(symbols, group_steps, tuple(chosen))
    if kind == "sparse":
        values = draw(hnp.arrays(np.float32, shape, elements=f32))
        keep = draw(hnp.arrays(np.bool_, shape))
        return SparseLeaf(np.where(keep, values, np.float32(0)))
    k = draw(st.integers(1, 6))
    centroids = draw(hnp.arrays(np.float32, k, elements=f32))
    return CodebookLeaf(
        draw(hnp.arrays(np.int64, shape, elements=st.integers(0, k - 1))), centroids
    )


def dense(leaf) -> np.ndarray:
    """The float32 tensor a leaf stands for, computed here independently of the codec."""
    if isinstance(leaf, RawLeaf | SparseLeaf):
        return np.asarray(leaf[0], np.float32)
    if isinstance(leaf, QuantizedLeaf):
        return leaf.symbols.astype(np.float32) * leaf.step
    if isinstance(leaf, CodebookLeaf):
        return leaf.centroids[leaf.index]
    if isinstance(leaf, LowRankLeaf):  # the integer product is exact in float64 here
        scale = float(np.float32(leaf.left.step) * np.float32(leaf.right.step))
        product = leaf.left.symbols.astype(np.float64) @ leaf.right.symbols.astype(np.float64)
        return (product * scale).astype(np.float32).reshape(leaf.shape)
    out = np.zeros(leaf.symbols.shape, np.float32)
    for (start, stop), step in zip(  # GroupedLeaf and LiveBlockLeaf
        group_bounds(leaf.symbols.shape[-1], len(leaf.steps)), leaf.steps, strict=True
    ):
        out[..., start:stop] = leaf.symbols[..., start:stop].astype(np.float32) * step
    return out


def prior_bits(prior, symbols) -> float:
    """``-sum log2 P(k)`` (the pmf from a table: ``prior.bits`` compiles per shape, slowly)."""
    if not symbols.size:
        return 0.0
    lo = int(symbols.min())
    table = probability_table(prior, lo, int(symbols.max()))
    return float(-np.sum(np.log2(table[symbols - lo])))


def flag_bits(n: int, k: int) -> float:
    """``n h2(k / n)``: ``n`` flags, ``k`` set, each coded with probability ``k / n``."""
    return 0.0 if k in (0, n) else -(k * math.log2(k / n) + (n - k) * math.log2(1 - k / n))


def information_bits(leaf) -> float:
    """What the leaf's coded symbols cost in theory (its rate, without side information)."""
    if isinstance(leaf, QuantizedLeaf):
        return prior_bits(leaf.prior, leaf.symbols)
    if isinstance(leaf, LowRankLeaf):
        return information_bits(leaf.left) + information_bits(leaf.right)
    if isinstance(leaf, GroupedLeaf):
        bounds = group_bounds(leaf.symbols.shape[-1], len(leaf.steps))
        return sum(
            prior_bits(p, leaf.symbols[..., a:b])
            for (a, b), p in zip(bounds, leaf.priors, strict=True)
        )
    if isinstance(leaf, SparseLeaf):
        return flag_bits(leaf.values.size, np.count_nonzero(leaf.values))
    if isinstance(leaf, LiveBlockLeaf):  # the units' flags, then the live block's bins
        *lead, m, n = leaf.symbols.shape
        matrix = np.moveaxis(leaf.symbols != 0, (-2, -1), (0, 1)).reshape(m, n, math.prod(lead))
        rows, columns = matrix.any(axis=(1, 2)), matrix.any(axis=(0, 2))
        block = leaf.symbols[..., np.flatnonzero(rows), :][..., np.flatnonzero(columns)]
        units = flag_bits(rows.size, rows.sum()) + flag_bits(columns.size, columns.sum())
        return units + prior_bits(leaf.prior, block)
    if isinstance(leaf, CodebookLeaf):
        counts = np.bincount(leaf.index.reshape(-1), minlength=leaf.centroids.size)
        used = counts[counts > 0]
        return float(-np.sum(used * np.log2(used / leaf.index.size)))
    return 0.0


models = st.lists(leaves(), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(models)
def test_every_leaf_type_round_trips_in_both_formats(tensors):
    named = {f"layer{i}/w": leaf for i, leaf in enumerate(tensors)}
    full = encode_model(named, arch={"family": "test"})
    weights, arch = decode_model(full)
    compact = encode_compact(tensors)
    values = decode_compact(compact, [leaf_shape(leaf) for leaf in tensors])
    assert arch == {"family": "test"} and list(weights) == list(named)
    for (path, leaf), got in zip(named.items(), values, strict=True):
        want = dense(leaf)
        np.testing.assert_array_equal(weights[path], want, err_msg=path)
        np.testing.assert_array_equal(got, want, err_msg=path)
        assert got.dtype == weights[path].dtype == np.float32 and got.shape == want.shape
    assert len(compact) < len(full)
    # One stream for the whole model: its size is the information content plus one coder
    # state and sentinel (and the 24-bit probability floor for very unlikely bins).
    coded = 8 * len(container.unpack(compact, "MODC").get("RANS", b""))
    ideal = sum(information_bits(leaf) for leaf in tensors)
    assert coded <= 1.001 * ideal + 96 + 1e-3 * sum(math.prod(leaf_shape(leaf)) for leaf in tensors)


@settings(max_examples=20, deadline=None)
@given(models, st.data())
def test_flipped_bytes_and_truncations_raise_codec_error(tensors, data):
    shapes = [leaf_shape(leaf) for leaf in tensors]
    for encoded, decode in (
        (encode_compact(tensors), lambda b: decode_compact(b, shapes)),
        (encode_model({str(i): leaf for i, leaf in enumerate(tensors)}), decode_model),
    ):
        corrupted = bytearray(encoded)
        corrupted[data.draw(st.integers(0, len(encoded) - 1))] ^= data.draw(st.integers(1, 255))
        with pytest.raises(CodecError):
            decode(bytes(corrupted))
        with pytest.raises(CodecError):
            decode(encoded[: data.draw(st.integers(0, len(encoded) - 1))])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.binary(max_size=60), st.binary(max_size=40))
def test_junk_inside_a_valid_container_is_codec_error_or_valid(meta, words, raw):
    """Junk framed in a valid container (past the checksum, into the parsers and the rANS
    reader) decodes to something of the template's shapes or raises CodecError."""
    shapes = [(3, 4), (5,)]
    sections = {"META": meta, "RANS": words, "RAWF": raw}
    for decode in (
        lambda: decode_compact(container.pack("MODC", sections), shapes),
        lambda: decode_model(container.pack("MODL", sections)),
    ):
        try:
            values = decode()
        except CodecError:
            continue
        values = values if isinstance(values, list) else list(values[0].values())
        assert all(v.dtype == np.float32 for v in values)


def test_groups_sharing_a_prior_store_it_once():
    prior = SpikeAndSlab(np.float32(1.0), DiscretizedLaplace(np.float32(0), np.float32(3)))
    symbols = np.random.default_rng(0).integers(-5, 6, (16, 8))
    steps = np.full(4, 0.1, np.float32)
    shared = encode_compact([GroupedLeaf(symbols, steps, (prior,) * 4)])
    other = SpikeAndSlab(np.float32(1.5), prior.slab)
    distinct = encode_compact([GroupedLeaf(symbols, steps, (prior, other, prior, other))])
    assert len(distinct) - len(shared) >= 3 * (len(prior_bytes(prior)) - 1)
    for data in (shared, distinct):
        (values,) = decode_compact(data, [(16, 8)])
        np.testing.assert_array_equal(values, symbols.astype(np.float32) * np.float32(0.1))


def test_dead_units_cost_one_flag_each_not_a_bin_per_weight():
    """A kernel with most units dead: the live-block file holds the flags and the live block,
    and is far shorter than the same bins coded one by one under the same prior."""
    prior = SpikeAndSlab(np.float32(0.0), DiscretizedLaplace(np.float32(0), np.float32(2)))
    symbols = np.zeros((5, 5, 20, 50), np.int64)
    rng = np.random.default_rng(0)
    symbols[:, :, 3:7, 10:14] = rng.integers(-4, 5, (5, 5, 4, 4))
    symbols[0, 0, 3, 10] = symbols[1, 1, 6, 13] = 7  # every unit of the block stays live
    block = encode_compact([LiveBlockLeaf(symbols, np.ones(1, np.float32), prior)])
    plain = encode_compact([QuantizedLeaf(symbols, np.float32(1), prior)])
    (values,) = decode_compact(block, [symbols.shape])
    np.testing.assert_array_equal(values, symbols.astype(np.float32))
    coded = 8 * len(container.unpack(block, "MODC")["RANS"])
    ideal = flag_bits(20, 4) + flag_bits(50, 4) + prior_bits(prior, symbols[:, :, 3:7, 10:14])
    assert ideal <= coded <= ideal + 96 + 1
    assert 4 * len(block) < len(plain)


def test_a_live_block_read_at_a_vector_shape_is_codec_error():
    prior = DiscretizedLaplace(np.float32(0), np.float32(1))
    data = encode_compact([LiveBlockLeaf(np.eye(3, dtype=np.int64), np.ones(1, np.float32), prior)])
    with pytest.raises(CodecError, match="needs two axes"):
        decode_compact(data, [(9,)])


@given(priors())
def test_priors_round_trip_exactly_in_bytes(prior):
    cursor = Cursor(prior_bytes(prior))
    again = cursor.prior()
    cursor.end()
    assert type(again) is type(prior)
    np.testing.assert_array_equal(
        probability_table(again, -30, 30), probability_table(prior, -30, 30)
    )


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "ends inside"),
        (b"\x09", "unknown"),
        ((b"\x04" + varints([1]) + np.float32(1).tobytes()) * 6 + b"\x00", "too deeply"),
        (b"\x00" + b"\x80\x08" + np.zeros(512, "<f4").tobytes(), "outside"),
        (b"\x00\x02" + np.float32(0).tobytes() + b"\x02" + np.float32(0).tobytes(), "invalid"),
    ],
)
def test_forged_priors_are_refused(payload, message):
    with pytest.raises(CodecError, match=message):
        Cursor(payload).prior()


def test_bad_leaves_are_refused_when_written():
    prior = DiscretizedLaplace(np.float32(0), np.float32(1))
    with pytest.raises(ValueError, match="NaN or infinite"):
        encode_compact([RawLeaf(np.array([1.0, np.nan], np.float32))])
    with pytest.raises(ValueError, match="NaN or infinite step"):
        encode_compact([QuantizedLeaf(np.zeros(3, np.int64), np.float32(np.inf), prior)])
    with pytest.raises(ValueError, match="indices must lie"):
        encode_compact([CodebookLeaf(np.array([0, 3]), np.zeros(2, np.float32))])
    with pytest.raises(ValueError, match="one prior per step"):
        encode_compact([GroupedLeaf(np.zeros((2, 4), np.int64), np.ones(2, np.float32), (prior,))])
    with pytest.raises(ValueError, match="at most"):
        encode_compact([QuantizedLeaf(np.array([-(2**24), 2**24]), np.float32(1), prior)])
    with pytest.raises(ValueError, match="needs two axes"):
        encode_compact([LiveBlockLeaf(np.zeros(4, np.int64), np.ones(1, np.float32), prior)])
    with pytest.raises(ValueError, match="groups must be in"):
        encode_compact([LiveBlockLeaf(np.zeros((2, 3), np.int64), np.ones(4, np.float32), prior)])
    with pytest.raises(TypeError, match="must be one of"):
        encode_model({"w": QuantizedLeaf(np.zeros(2, np.int64), np.float32(1), "laplace")})
