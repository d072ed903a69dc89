"""Hypothesis strategies for property tests of description-length claims.

The suite of mdl tests itself with these; they are public so that a researcher can state a
hypothesis about their own code ("my coder never beats the entropy", "my compressor's estimate
matches its file") and have hypothesis hunt for counterexamples::

    from hypothesis import given
    from mdl.testing import categorical_streams

    @given(categorical_streams())
    def test_round_trip(stream):
        probs, symbols = stream
        assert (mdl.decode_symbols(mdl.encode_symbols(symbols, probs), probs) == symbols).all()

For data codes, `data_code_problems` draws ``(code, outputs, targets)`` for any of
`mdl.codes.data_codes` and `assert_target_file_is_estimate` states the bound of
`mdl.codec.targets` (the targets' file is ``code.bits``, decoded back exactly).

For compressors, `compressors` draws any of mdl's (``make_compressor`` builds one by
name, ``compressor_kinds`` lists them for explicit parametrization), and
`assert_estimate_is_file` / `assert_file_decodes_to_hard` state the protocol's
promises about one ``(compressor, params, cstate)``::

    assert_estimate_is_file(compressor, params, cstate)  # bits() is the file, to 1% + header

Requires the ``test`` extra (hypothesis). Every strategy draws numpy arrays, float64
probabilities that sum to one to within 1e-12, and covers the skewed and degenerate cases
(near-zero probabilities, a single symbol) where coders usually break.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def probability_vectors(draw, min_size: int = 1, max_size: int = 64, max_log_ratio: float = 30.0):
    """Probability vectors of length in ``[min_size, max_size]``, summing to one.

    Log-probabilities are drawn over a range of ``max_log_ratio`` nats, so the vectors range from
    uniform to very skewed (ratios up to ``e^30`` between largest and smallest by default).
    """
    size = draw(st.integers(min_size, max_size))
    logits = draw(
        hnp.arrays(np.float64, size, elements=st.floats(-max_log_ratio, 0.0, allow_nan=False))
    )
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


@st.composite
def probability_matrices(draw, max_rows: int = 64, min_size: int = 1, max_size: int = 16):
    """Probability matrices ``[n, K]`` (``1 <= n <= max_rows``) whose rows each sum to one."""
    rows = draw(st.integers(1, max_rows))
    size = draw(st.integers(min_size, max_size))
    return np.stack([draw(probability_vectors(size, size)) for _ in range(rows)])


def positive_integers(max_value: int = 2**31 - 1):
    """Integers ``1 <= n <= max_value``, shrinking towards 1."""
    return st.integers(1, max_value)


@st.composite
def categorical_streams(draw, max_symbols: int = 512, max_alphabet: int = 64):
    """``(probs [K], symbols [n])``: symbols drawn from ``probs`` (so likely ones dominate),
    with occasional improbable symbols mixed in, since those stress coders most."""
    probs = draw(probability_vectors(1, max_alphabet))
    n = draw(st.integers(0, max_symbols))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    symbols = rng.choice(probs.size, size=n, p=probs)
    surprises = draw(st.lists(st.integers(0, probs.size - 1), max_size=4))
    if n:
        symbols[: len(surprises)] = surprises[:n]
    return probs, symbols.astype(np.int64)


@st.composite
def labelled_predictions(draw, max_rows: int = 128, max_classes: int = 16):
    """``(probs [n, K], labels [n])``: a model's predictive distributions and the true labels,
    each label drawn from its row (sometimes from a uniformly random class instead)."""
    probs = draw(probability_matrices(max_rows, 1, max_classes))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    labels = np.array([rng.choice(row.size, p=row) for row in probs])
    flips = rng.random(len(labels)) < draw(st.floats(0.0, 0.5))
    labels[flips] = rng.integers(0, probs.shape[1], size=int(flips.sum()))
    return probs, labels.astype(np.int64)


@st.composite
def quantized_weights(draw, max_size: int = 256, max_scale: float = 20.0, size: int | None = None):
    """``(loc, scale, symbols)``: integer bins around ``loc`` with spread about ``scale`` bins,
    as a quantized weight tensor looks; for testing priors and the prior-coded codec.

    ``size`` fixes the number of weights (JAX compiles once per shape, so fixed shapes keep
    property tests of jitted code fast); otherwise it is drawn from ``[1, max_size]``.
    """
    loc = draw(st.floats(-5.0, 5.0))
    scale = draw(st.floats(0.05, max_scale))
    n = size if size is not None else draw(st.integers(1, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).laplace(loc, scale, size=n)
    return loc, scale, np.round(values).astype(np.int64)


def array_shapes(max_dims: int = 3, max_side: int = 8):
    """Hypothesis strategy: array shapes of 1 to ``max_dims`` axes, each 1 to ``max_side`` long."""
    return hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=max_side)


@st.composite
def param_pytrees(draw, max_leaves: int = 6, max_depth: int = 2, dtype=np.float32):
    """Nested dicts of float arrays of random shapes, like an ``nnx.split`` parameter state.

    Keys are layer-like names (``"layer0"``, ``"kernel"``...). Values are finite.
    """

    def leaf():
        return array_shapes().flatmap(
            lambda shape: hnp.arrays(
                dtype, shape, elements=st.floats(-10, 10, allow_nan=False, width=32)
            )
        )

    def tree(depth):
        names = st.sampled_from(["kernel", "bias", "scale", "embedding", "w", "b"])
        if depth == 0:
            return st.dictionaries(names, leaf(), min_size=1, max_size=max_leaves)
        children = st.one_of(leaf(), st.deferred(lambda: tree(depth - 1)))
        layer_names = st.integers(0, 9).map(lambda i: f"layer{i}")
        return st.dictionaries(st.one_of(layer_names, names), children, min_size=1, max_size=3)

    return draw(tree(max_depth))


# --- Compressors ----------------------------------------------------------------------------

# Bins whose prior costs more than this many bits may cost less in a file than in the estimate:
# the coder's probabilities are 24-bit, so no symbol costs much more than 24 bits (a margin of
# 4 bits covers the quantization of probabilities near that floor).
CODER_FLOOR_BITS = 20.0


def selectable(path: str, leaf) -> bool:
    """The selection of `compressors`: tensors with at least 4 entries and a last axis
    of at least 2 (what per-group compressors need)."""
    return np.size(leaf) >= 4 and np.ndim(leaf) >= 1 and np.shape(leaf)[-1] >= 2


def compressor_kinds() -> tuple[str, ...]:
    """Every compressor x prior that `make_compressor` builds (for explicit
    parametrization): ``"float32"``, ``"quantizer/<prior>"``, ``"bit_width"``,
    ``"hard_concrete"``, ``"magnitude"``, ``"kmeans"``, ``"variational_dropout"``,
    ``"live_block/<prior>"`` (the quantizer with ``live_block=True``) for the spike-and-slab
    Laplace and the logistic priors (its two rate paths), and the chains
    ``"magnitude+quantizer/spike_laplace"`` and ``"hard_concrete+quantizer/spike_laplace"`` (a
    pruner's zeros paid for by the spike)."""
    from mdl.compress.quantize import PRIORS

    return (
        "float32",
        *(f"quantizer/{prior}" for prior in PRIORS),
        "live_block/spike_laplace",
        "live_block/logistic",
        "bit_width",
        "hard_concrete",
        "magnitude",
        "kmeans",
        "variational_dropout",
        "magnitude+quantizer/spike_laplace",
        "hard_concrete+quantizer/spike_laplace",
    )


def make_compressor(
    kind: str,
    select=selectable,
    *,
    groups: int = 1,
    structured: bool = False,
    sparsity: float = 0.5,
    clusters: int = 4,
    threshold: float = 3.0,
    init_log_sigma2: float = -10.0,
    init_bits: float = 6.0,
):
    """The compressor ``kind`` names (one of `compressor_kinds`), selecting ``select``;
    ``groups`` is the quantizer's ``step_groups`` and the bit width's ``groups``."""
    from mdl.compress import (
        chain,
        float32_baseline,
        hard_concrete,
        kmeans,
        learned_bit_width,
        magnitude,
        quantizer,
        sparse_variational_dropout,
    )

    first, _, last = kind.rpartition("+")
    name, _, prior = last.partition("/")
    if name in ("quantizer", "live_block"):
        live_block = name == "live_block"
        compressor = quantizer(select, prior=prior, step_groups=groups, live_block=live_block)
    elif name == "float32":
        compressor = float32_baseline()
    elif name == "bit_width":
        compressor = learned_bit_width(select, groups=groups, init_bits=init_bits)
    elif name == "hard_concrete":
        compressor = hard_concrete(select, structured=structured)
    elif name == "magnitude":
        compressor = magnitude(select, schedule=sparsity)
    elif name == "kmeans":
        compressor = kmeans(select, clusters=clusters)
    elif name == "variational_dropout":
        compressor = sparse_variational_dropout(
            select, threshold=threshold, init_log_sigma2=init_log_sigma2
        )
    else:
        raise ValueError(f"unknown compressor kind {kind!r}; see compressor_kinds()")
    if first:
        pruner = make_compressor(first, select, structured=structured, sparsity=sparsity)
        compressor = chain(pruner, compressor)
    return compressor


@st.composite
def compressors(draw, groups: bool = True):
    """``(name, compressor)``: any of mdl's compressors (`compressor_kinds`) with drawn
    settings, alone or chained (a pruner before a quantizer), selecting with
    `selectable`. For properties every compressor must keep: the estimate is the file
    (`assert_estimate_is_file`), decoding gives the hard weights."""
    kind = draw(st.sampled_from(compressor_kinds()))
    settings = {
        "groups": draw(st.sampled_from([1, 2])) if groups else 1,
        "structured": draw(st.booleans()),
        "sparsity": draw(st.floats(0.0, 0.9)),
        "clusters": draw(st.integers(2, 8)),
        "threshold": draw(st.floats(-2.0, 5.0)),
        "init_log_sigma2": draw(st.floats(-12.0, 2.0)),
        "init_bits": draw(st.floats(2.6, 7.4)),
    }
    return f"{kind} {settings}", make_compressor(kind, **settings)


def model_file_header_bits(data: bytes) -> int:
    """The fixed part of a model file (``mdl.codec.model``), which no estimate counts: the
    container's framing, the metadata sections (names, shapes, side information, the
    architecture), and the rANS stream's 32-bit sentinel and 64-bit final state (one stream
    holds every coded tensor)."""
    from mdl.codec import container
    from mdl.codec.model import KIND

    sections = container.unpack(data, KIND)
    framing = len(data) - sum(len(v) for v in sections.values())
    meta = len(sections["META"]) + len(sections.get("ARCH", b""))
    return 8 * (framing + meta) + (96 if sections.get("RANS") else 0)


def _prior_bits(prior, symbols):
    return prior.bits(symbols)


_jitted_prior_bits = jax.jit(_prior_bits)


def _bits_beyond_floor(leaves: dict) -> float:
    """``sum max(0, -log2 P(k) - CODER_FLOOR_BITS)`` over the prior-coded bins: how much
    cheaper than the estimate the coder's probability floor may make a file. Each distinct bin
    is priced once, in one jitted call (padded to a power of two, at least 64, so that tensors
    share compiled programs)."""
    from mdl.codec.leaves import live_block
    from mdl.codec.model import GroupedLeaf, LiveBlockLeaf, QuantizedLeaf, group_bounds

    excess = 0.0
    for leaf in leaves.values():
        if isinstance(leaf, QuantizedLeaf):
            parts = [(leaf.symbols, leaf.prior)]
        elif isinstance(leaf, LiveBlockLeaf):
            parts = [(live_block(leaf.symbols)[2], leaf.prior)]
        elif isinstance(leaf, GroupedLeaf):
            bounds = group_bounds(np.shape(leaf.symbols)[-1], len(leaf.priors))
            parts = [
                (leaf.symbols[..., a:b], p) for (a, b), p in zip(bounds, leaf.priors, strict=True)
            ]
        else:
            continue
        for symbols, prior in parts:
            bins, counts = np.unique(np.asarray(symbols).reshape(-1), return_counts=True)
            if not bins.size:
                continue
            size = max(64, 1 << (bins.size - 1).bit_length())
            padded = np.pad(bins, (0, size - bins.size), "edge")
            costs = np.asarray(_jitted_prior_bits(prior, padded), np.float64)[: bins.size]
            excess += float(np.sum(counts * np.maximum(costs - CODER_FLOOR_BITS, 0.0)))
    return excess


def assert_estimate_is_file(
    compressor, params, cstate, *, rel: float = 0.01, header_bits: float | None = None
) -> tuple[float, int]:
    """Assert that ``compressor.bits(params, cstate)`` is the length of the file
    ``encode_model(compressor.finalize(params, cstate))``: with ``L`` the estimate and
    ``F = 8 len(file)``,

        ``(1 - rel) (L - E) - H <= F <= (1 + rel) L + H``,

    ``H`` the file's fixed header (``header_bits``; by default
    `model_file_header_bits`) and ``E`` the bits by which prior-coded bins beyond the
    coder's probability floor may be cheaper in the file (`CODER_FLOOR_BITS`): never
    dearer than the estimate, never cheaper except at the floor. ``L`` is computed under
    ``jax.jit``, as training computes it. Returns ``(L, F)``."""
    from mdl.codec.model import encode_model

    estimate = float(jax.jit(compressor.bits)(params, cstate))
    leaves = compressor.finalize(params, cstate)
    data = encode_model(leaves)
    real = 8 * len(data)
    header = model_file_header_bits(data) if header_bits is None else header_bits
    assert real <= (1 + rel) * estimate + header, (
        f"the file ({real} bits) costs more than the estimate ({estimate:.1f} bits) "
        f"+ {rel:.0%} + the header ({header} bits)"
    )
    floor = _bits_beyond_floor(leaves)
    assert real >= (1 - rel) * (estimate - floor) - header, (
        f"the file ({real} bits) costs less than the estimate ({estimate:.1f} bits) - {rel:.0%} "
        f"- the header ({header} bits), beyond the coder's floor ({floor:.1f} bits)"
    )
    return estimate, real


def assert_file_decodes_to_hard(compressor, params, cstate) -> None:
    """Assert that the finalized file decodes to ``compressor.hard(params, cstate)`` bit for
    bit (float32), leaf by leaf, called eagerly and under ``jax.jit`` alike."""
    from mdl.codec.model import decode_model, encode_model
    from mdl.compress.base import leaves_with_paths

    decoded, _ = decode_model(encode_model(compressor.finalize(params, cstate)))
    for hard in (compressor.hard, jax.jit(compressor.hard)):
        for path, leaf in leaves_with_paths(hard(params, cstate)):
            assert decoded[path].dtype == np.float32, path
            np.testing.assert_array_equal(decoded[path], np.asarray(leaf), err_msg=path)


# --- Data codes -----------------------------------------------------------------------------

DATA_CODE_NAMES = (
    "categorical",
    "bernoulli",
    "next_token",
    "discretized_gaussian",
    "discretized_logistic",
)


@st.composite
def data_code_problems(draw, names=DATA_CODE_NAMES, sizes=(1, 5, 24)):
    """``(code, outputs, targets)``: a data code, a model's outputs (float32) and targets drawn
    from them (sometimes uniformly instead, for surprises):

    * categorical: logits ``[n, K]``, labels ``[n]``; bernoulli: logits and 0/1 ``[n, M]``;
    * next_token: logits ``[n, T, V]``, tokens ``[n, T]`` with no padding, padding at the end
      of each sequence, or padding anywhere;
    * discretized: ``(mean, log scale)`` ``[n, 2]`` or ``[n, 2, 2]`` and values drawn from the
      model within 4 scales of the mean, on the grid of a drawn bin width (``k w``: where the
      estimate charges the bin the file codes).

    Logits have scales up to 8 (probabilities down to about ``2^-20``). Examples, classes and
    steps come from a few sizes (``sizes`` examples; 1 class or step included), so that JAX
    compiles few programs across the draws."""
    from mdl.codes.data_codes import data_code

    name = draw(st.sampled_from(names))
    n = draw(st.sampled_from(sizes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    surprise = draw(st.floats(0.0, 0.3))
    scale = draw(st.floats(0.0, 8.0))

    def drawn(probs):  # one symbol per row of probs [..., K]
        flat = probs.reshape(-1, probs.shape[-1])
        symbols = np.array([rng.choice(row.size, p=row) for row in flat])
        flips = rng.random(symbols.size) < surprise
        symbols[flips] = rng.integers(0, probs.shape[-1], int(flips.sum()))
        return symbols.reshape(probs.shape[:-1])

    def softmax(logits):
        z = np.exp(logits - logits.max(-1, keepdims=True))
        return z / z.sum(-1, keepdims=True)

    if name in ("categorical", "next_token"):
        steps = draw(st.sampled_from([1, 3, 8])) if name == "next_token" else None
        classes = draw(st.sampled_from([1, 2, 5, 12]))
        shape = (n, classes) if steps is None else (n, steps, classes)
        logits = (scale * rng.standard_normal(shape)).astype(np.float32)
        targets = drawn(softmax(logits.astype(np.float64)))
        if name == "next_token":
            padding = draw(st.sampled_from(["none", "end", "anywhere"]))
            if padding == "end":
                targets[np.arange(steps) >= rng.integers(0, steps + 1, n)[:, None]] = -1
            elif padding == "anywhere":
                targets[rng.random(targets.shape) < draw(st.floats(0.0, 1.0))] = -1
        return data_code(name), logits, targets.astype(np.int64)
    if name == "bernoulli":
        labels = draw(st.sampled_from([1, 3]))
        logits = (scale * rng.standard_normal((n, labels))).astype(np.float32)
        ones = rng.random(logits.shape) < 1 / (1 + np.exp(-logits.astype(np.float64)))
        flips = rng.random(logits.shape) < surprise
        return data_code(name), logits, np.where(flips, ~ones, ones).astype(np.float32)
    width = draw(st.sampled_from([1e-3, 0.04, 0.5, 2.0]))
    shape = (n,) if draw(st.booleans()) else (n, 2)
    mean = rng.normal(0.0, 3.0, shape)
    log_scale = rng.uniform(-3.0, 1.5, shape)
    noise = np.clip(rng.standard_normal(shape), -4.0, 4.0)
    values = np.rint((mean + np.exp(log_scale) * noise) / width) * width
    outputs = np.stack([mean, log_scale], axis=-1).astype(np.float32)
    return data_code({"name": name, "bin_width": width}), outputs, values


@functools.cache
def _jitted_data_bits(code):
    return jax.jit(code.bits)


def target_file_header_bits(data: bytes) -> int:
    """The fixed part of a targets file (`mdl.codec.targets`), which no estimate counts:
    the container's framing and the metadata (sizes, the window, a CRC-32 of the targets);
    everything but the rANS words."""
    from mdl.codec import container

    sections = container.unpack(data, container.kind_of(data))
    return 8 * (len(data) - len(sections["RANS"]))


def assert_target_file_is_estimate(
    code, outputs, targets, *, estimate: float | None = None, rel: float = 1e-3
) -> tuple[float, int]:
    """Assert that the file of `mdl.codec.targets.encode_targets` decodes to
    `coded_targets` and that its length ``F = 8 len(file)`` is the
    estimate ``L`` (by default ``sum code.bits(outputs, targets)`` under ``jax.jit``, as
    training computes it, summed in float64):

        ``L + S + H - 64 - E - rel L  <=  F  <=  L + S + H + 96 + rel L + 1``,

    ``S`` the side bits (`side_bits`), ``H`` the header
    (`target_file_header_bits`), 96 the coder's sentinel and state, 64 its head, ``E``
    the bits the coder's floor may take off improbable targets (``sum max(0, -log2 p -``
    `CODER_FLOOR_BITS` ``)``, with ``-log2 p`` from
    `target_bits`) and the ``+ 1`` the floor every symbol of a table
    keeps. Returns ``(L, F)``."""
    from mdl.codec.targets import (
        coded_targets,
        decode_targets,
        encode_targets,
        side_bits,
        target_bits,
    )

    if estimate is None:
        estimate = float(np.sum(np.asarray(_jitted_data_bits(code)(outputs, targets), np.float64)))
    data = encode_targets(code, outputs, targets)
    decoded = decode_targets(code, outputs, data)
    expected = coded_targets(code, targets)
    assert decoded.shape == expected.shape and np.array_equal(decoded, expected), (
        f"the {code.name} file did not decode to its targets"
    )
    real = 8 * len(data)
    side = side_bits(code, targets)
    header = target_file_header_bits(data)
    floor = float(np.sum(np.maximum(target_bits(code, outputs, targets) - CODER_FLOOR_BITS, 0)))
    high = estimate + side + header + 96 + rel * estimate + 1
    assert real <= high, (
        f"the {code.name} file ({real} bits) costs more than the estimate ({estimate:.1f}) + "
        f"side ({side:.1f}) + header ({header}) + 96 + {rel:.1%}: {high:.1f}"
    )
    low = estimate + side + header - 64 - floor - rel * estimate
    assert real >= low, (
        f"the {code.name} file ({real} bits) costs less than the estimate ({estimate:.1f}) + "
        f"side ({side:.1f}) + header ({header}) - 64 - floor ({floor:.1f}) - {rel:.1%}: {low:.1f}"
    )
    return estimate, real
