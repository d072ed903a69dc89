"""Delta codes: the file decodes to the delta compressor's hard weights against its reference
and refuses any other, a zero delta costs only its header, and the estimate is the file."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.codec.errors import CodecError
from mdl.compress import (
    chain,
    decode_delta,
    delta,
    encode_delta,
    float32_baseline,
    hard_concrete,
    quantizer,
    reference_params,
)
from mdl.compress.files import encode_compressed
from mdl.models import MLP
from mdl.params import split_params

# The MODD container (16 bytes of head and checksum, 8 per section, the 32-byte digest) and the
# inner MODC container's framing.
HEADER_BYTES = 16 + 2 * 8 + 32 + 48


def reference_and_file(seed=0, sizes=(20, 16, 4)):
    model = MLP(list(sizes), rngs=nnx.Rngs(seed))
    plain = float32_baseline()
    _, params = split_params(model)
    data = encode_compressed(model, plain, plain.init(params))
    return model, data


def adapted(model, reference, change):
    graphdef, _ = split_params(model)
    return nnx.merge(graphdef, jax.tree.map(lambda r, d: r + d, reference, change))


def test_the_file_decodes_to_hard_against_its_reference_and_refuses_another():
    model, ref_file = reference_and_file()
    reference = reference_params(ref_file, model)
    rng = np.random.default_rng(0)
    change = jax.tree.map(
        lambda r: jnp.asarray(rng.normal(0, 0.05, r.shape), jnp.float32), reference
    )
    tuned = adapted(model, reference, change)
    compressor = delta(quantizer(lambda p, w: True, prior="spike_laplace"), reference)
    _, params = split_params(tuned)
    cstate = compressor.init(params)
    data = encode_delta(tuned, compressor, cstate, ref_file)
    decoded = decode_delta(data, ref_file, model)
    want = compressor.hard(params, cstate)
    for a, b in zip(jax.tree.leaves(split_params(decoded)[1]), jax.tree.leaves(want), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))  # bit for bit
    _, other_file = reference_and_file(seed=1)
    with pytest.raises(CodecError, match="another reference"):
        decode_delta(data, other_file, model)
    for cut in (0, 10, len(data) - 1):
        with pytest.raises(CodecError):
            decode_delta(data[:cut], ref_file, model)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    with pytest.raises(CodecError):
        decode_delta(bytes(flipped), ref_file, model)


def test_a_zero_delta_costs_only_its_header():
    """The unchanged model's delta file: framing, the per-tensor side information (step, prior
    scale and spike weight, three float32s each) and the coder's few words, whatever the
    number of weights."""
    sizes = {}
    for width in (16, 256):
        model, ref_file = reference_and_file(sizes=(20, width, 4))
        reference = reference_params(ref_file, model)
        compressor = delta(quantizer(lambda p, w: True, prior="spike_laplace"), reference)
        cstate = compressor.init(reference)
        # the compressor's state as training leaves it for unchanged weights: its learned
        # prior fitted to the zeros (Adam on the bits, as fit's compressor optimizer does)
        optimizer = optax.adam(0.1)
        opt_state = optimizer.init(cstate)
        grad = jax.jit(jax.grad(lambda c, p=reference, f=compressor: f.bits(p, c)))
        for _ in range(200):
            updates, opt_state = optimizer.update(grad(cstate), opt_state)
            cstate = optax.apply_updates(cstate, updates)
        data = encode_delta(
            adapted(model, reference, jax.tree.map(jnp.zeros_like, reference)),
            compressor,
            cstate,
            ref_file,
        )
        leaves = len(jax.tree.leaves(reference))
        # per tensor: step, prior scale and spike weight (three float32s) and its bin range
        assert len(data) <= HEADER_BYTES + leaves * (12 + 16) + 32, (width, len(data))
        sizes[width] = len(data)
    # sixteen times the weights, within a few bytes of the same file
    assert abs(sizes[256] - sizes[16]) <= 8


@settings(max_examples=12, deadline=None)
@given(
    kind=st.sampled_from(["dense", "sparse", "head"]),
    scale=st.floats(0.003, 0.3),
    keep=st.floats(0.05, 1.0),
    seed=st.integers(0, 1000),
)
def test_the_delta_estimate_is_the_file_within_one_percent_and_a_header(kind, scale, keep, seed):
    model, ref_file = reference_and_file()
    reference = reference_params(ref_file, model)
    rng = np.random.default_rng(seed)

    def draw(path, r):
        values = rng.normal(0, scale, r.shape) * (rng.random(r.shape) < keep)
        if kind == "head" and "layers.1" not in path:
            values = np.zeros(r.shape)
        return jnp.asarray(values, jnp.float32)

    from mdl.compress import leaves_with_paths

    paths = dict(leaves_with_paths(reference))
    flat = {path: draw(path, leaf) for path, leaf in paths.items()}
    change = jax.tree_util.tree_unflatten(jax.tree.structure(reference), [flat[p] for p in paths])
    tuned = adapted(model, reference, change)
    inner = {
        "dense": quantizer(lambda p, w: True, prior="spike_laplace"),
        "sparse": chain(
            hard_concrete(lambda p, w: True), quantizer(lambda p, w: True, prior="spike_laplace")
        ),
        "head": quantizer(lambda p, w: True, prior="spike_laplace"),
    }[kind]
    compressor = delta(inner, reference)
    _, params = split_params(tuned)
    cstate = compressor.init(params)
    estimate = float(compressor.bits(params, cstate))
    data = encode_delta(tuned, compressor, cstate, ref_file)
    assert abs(8 * len(data) - estimate) <= 0.01 * estimate + 8 * (HEADER_BYTES + 64), (
        kind,
        estimate,
        8 * len(data),
    )


def test_structure_mismatch_and_non_compressors_are_refused():
    model, ref_file = reference_and_file()
    reference = reference_params(ref_file, model)
    other, _ = reference_and_file(sizes=(20, 8, 4))
    compressor = delta(quantizer(lambda p, w: True), reference)
    with pytest.raises(ValueError, match="differ in"):
        compressor.init(split_params(other)[1])
    with pytest.raises(TypeError, match="needs a Compressor"):
        delta(lambda w: w, reference)
