r"""Delta codes: a model coded relative to a reference the decoder already has.

Adapting a pretrained model should cost only the bits of the change. `delta` wraps any
compressor so that it codes $d = w - r$, the difference between the weights $w$ and a
reference $r$ (the pretrained weights), instead of $w$:

* ``apply(w, c, key) = r + inner.apply(w - r, c, key)``, ``hard(w, c) = r + inner.hard(w - r, c)``;
* ``bits(w, c) = inner.bits(w - r, c)`` and ``finalize(w, c) = inner.finalize(w - r, c)``:
  the code length is the delta's, and the file (`encode_delta`) holds the delta only.

With the quantizer's spike-and-slab prior a weight left at its reference value costs a
fraction of a bit, so a head-only delta is the quantizer with a selection of the head's
leaves (every other leaf must then not change: train it frozen), and a sparse delta is
``chain(hard_concrete(...), quantizer(...))`` wrapped in `delta`.

The file (kind ``MODD``) is the delta's compact file plus the SHA-256 of the reference's
file: `decode_delta` refuses (`CodecError`) to add the delta to any other reference, since a
delta means nothing against the wrong weights. ``8 x len(file)`` is the delta's code length,
``bits()`` plus a fixed header.

References:
  E. J. Hu et al., "LoRA: Low-rank adaptation of large language models", ICLR 2022 (the case
  for coding only a change); S. Lotfi et al., "PAC-Bayes compression bounds so tight that
  they can explain generalization", NeurIPS 2022 (bounds with a pretrained prior).
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mdl.codec.container import pack, require, unpack
from mdl.codec.errors import CodecError
from mdl.compress.base import Compressor, Params
from mdl.compress.files import decode_compressed, encode_compressed
from mdl.params import split_params

KIND = "MODD"
DIGEST_BYTES = 32  # SHA-256


def _same_structure(params: Params, reference: Params) -> None:
    a, b = jax.tree.structure(params), jax.tree.structure(reference)
    if a != b:
        raise ValueError(f"params and reference differ in structure: {a} against {b}")
    shapes = [
        (np.shape(x), np.shape(y))
        for x, y in zip(jax.tree.leaves(params), jax.tree.leaves(reference), strict=True)
    ]
    bad = [s for s in shapes if s[0] != s[1]]
    if bad:
        raise ValueError(f"params and reference differ in leaf shapes: {bad[:3]}")


def delta(inner: Compressor, reference: Params) -> Compressor:
    """``inner`` applied to the difference from ``reference`` (module doc).

    Args:
      inner: the compressor of the delta (a quantizer, a chain with a pruner...).
      reference: the reference parameters as the decoder has them: `reference_params` of the
        reference's file (the weights the file decodes to, bit for bit).

    Returns:
      A `Compressor` whose state is ``inner``'s on the delta.

    Raises:
      TypeError: when ``inner`` is not a `Compressor`.
      ValueError: (from ``init``) when the parameters do not have the reference's structure.
    """
    if not isinstance(inner, Compressor):
        raise TypeError(f"delta needs a Compressor; got {type(inner).__name__}")
    ref = jax.tree.map(lambda r: jnp.asarray(r, jnp.float32), reference)

    def diff(params):
        return jax.tree.map(lambda w, r: w - r, params, ref)

    def plus(d):
        return jax.tree.map(lambda x, r: x + r, d, ref)

    def init(params, key=None):
        _same_structure(params, ref)
        return inner.init(diff(params), key)

    def apply(params, cstate, key):
        return plus(inner.apply(diff(params), cstate, key))

    def hard(params, cstate):
        return plus(inner.hard(diff(params), cstate))

    def bits(params, cstate):
        return inner.bits(diff(params), cstate)

    def finalize(params, cstate):
        return inner.finalize(diff(params), cstate)

    return Compressor(init, apply, hard, bits, finalize, inner.advance, inner.labels)


def reference_params(reference_file: bytes, template: nnx.Module | None = None) -> Params:
    """The reference weights as the decoder will have them: decoded from the reference's file
    (pass these to `delta`, so that the encoder's ``hard`` and `decode_delta` add the delta to
    the very same floats)."""
    return split_params(decode_compressed(reference_file, template))[1]


def reference_digest(reference_file: bytes) -> bytes:
    """The reference's identity: the SHA-256 of its file's bytes."""
    return hashlib.sha256(bytes(reference_file)).digest()


def encode_delta(model: nnx.Module, compressor: Compressor, cstate, reference_file: bytes) -> bytes:
    """The delta file of ``model`` against the reference whose file is ``reference_file``.

    Args:
      model: the adapted model (its weights are reference + delta).
      compressor: the `delta` compressor it was trained with (against that reference's
        weights).
      cstate: the compressor's state.
      reference_file: the bytes of the reference model's file (`mdl.compress.encode_compressed`
        or `save_compressed`); only its digest is stored.

    Returns:
      ``MODD`` bytes: the reference's digest and the delta's compact file.
    """
    body = encode_compressed(model, compressor, cstate, compact=True)
    return pack(KIND, {"REF ": reference_digest(reference_file), "DLTA": body})


def decode_delta(
    data: bytes, reference_file: bytes, template: nnx.Module | None = None
) -> nnx.Module:
    """The adapted model: the reference (decoded from ``reference_file``) plus the delta.

    Args:
      data: bytes `encode_delta` wrote.
      reference_file: the reference model's file; must be the one the delta was made against.
      template: a model of the architecture, for references whose file does not describe it.

    Returns:
      The model with weights ``reference + delta``, as the delta compressor's ``hard`` gave them.

    Raises:
      CodecError: for corrupt or truncated bytes, or a reference other than the delta's.
    """
    digest, body = require(unpack(data, KIND), "REF ", "DLTA")
    if len(digest) != DIGEST_BYTES:
        raise CodecError(f"reference digest of {len(digest)} bytes; expected {DIGEST_BYTES}")
    if digest != reference_digest(reference_file):
        raise CodecError(
            "this delta was made against another reference (its SHA-256 "
            f"{digest.hex()[:16]}... differs from the given file's "
            f"{reference_digest(reference_file).hex()[:16]}...)"
        )
    reference = decode_compressed(reference_file, template)
    graphdef, ref_params = split_params(reference)
    change = decode_compressed(body, reference)
    _, delta_params = split_params(change)
    return nnx.merge(graphdef, jax.tree.map(lambda r, d: r + d, ref_params, delta_params))
