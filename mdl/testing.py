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

Requires the ``test`` extra (hypothesis). Every strategy draws numpy arrays, float64
probabilities that sum to one to within 1e-12, and covers the skewed and degenerate cases
(near-zero probabilities, a single symbol) where coders usually break.
"""

from __future__ import annotations

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


@st.composite
def compressors(draw, groups: bool = True):
    """``(name, compressor)``: any of mdl's compressors with drawn settings, alone or chained
    (a pruner before a quantizer), selecting tensors with at least 4 entries and a last axis of
    at least 2 (what per-group compressors need). For properties every compressor must keep:
    the estimate is the file, decoding is exact."""
    from mdl.compress import (
        chain,
        hard_concrete,
        kmeans,
        learned_bit_width,
        magnitude,
        quantizer,
        sparse_variational_dropout,
    )
    from mdl.compress.quantize import PRIORS

    def select(path, leaf):
        return np.size(leaf) >= 4 and np.ndim(leaf) >= 1 and np.shape(leaf)[-1] >= 2

    kind = draw(
        st.sampled_from(
            ["quantizer", "bit_width", "l0", "magnitude", "chain", "kmeans", "variational_dropout"]
        )
    )
    step_groups = draw(st.sampled_from([1, 2])) if groups else 1
    if kind == "quantizer":
        prior = draw(st.sampled_from(PRIORS))
        return f"quantizer({prior}, groups={step_groups})", quantizer(
            select, prior=prior, step_groups=step_groups
        )
    if kind == "bit_width":
        return f"learned_bit_width(groups={step_groups})", learned_bit_width(
            select, groups=step_groups, init_bits=draw(st.floats(2.6, 7.4))
        )
    if kind == "l0":
        structured = draw(st.booleans())
        return f"hard_concrete(structured={structured})", hard_concrete(
            select, structured=structured
        )
    if kind == "kmeans":
        clusters = draw(st.integers(2, 8))
        return f"kmeans({clusters})", kmeans(select, clusters=clusters)
    if kind == "variational_dropout":
        threshold = draw(st.floats(-2.0, 5.0))
        return f"sparse_variational_dropout({threshold:.1f})", sparse_variational_dropout(
            select, threshold=threshold, init_log_sigma2=draw(st.floats(-12.0, 2.0))
        )
    sparsity = draw(st.floats(0.0, 0.9))
    if kind == "magnitude":
        return f"magnitude({sparsity:.2f})", magnitude(select, schedule=sparsity)
    return f"chain(magnitude({sparsity:.2f}), quantizer)", chain(
        magnitude(select, schedule=sparsity), quantizer(select, step_groups=step_groups)
    )
