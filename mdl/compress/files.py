"""Compressed Flax NNX models as bytes and files.

``encode_compressed``/``decode_compressed`` work in memory; ``save_compressed``/
``load_compressed`` write and read files with them (atomically). Two formats: self-describing
model files (`mdl.codec.model`, kind MODL: names, shapes and, for reference models, the
architecture) and compact files (`mdl.codec.compact`, kind MODC: only what a template
of the same architecture cannot supply).
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from mdl.codec.compact import KIND as COMPACT_KIND
from mdl.codec.compact import decode_compact, encode_compact
from mdl.codec.container import kind_of
from mdl.codec.errors import CodecError
from mdl.codec.model import decode_model, encode_model
from mdl.compress.base import leaves_with_paths
from mdl.params import split_params
from mdl.records import write_bytes_atomic

__all__ = [
    "decode_compressed",
    "encode_compressed",
    "load_compressed",
    "save_compressed",
    "split_params",  # moved to mdl.params; importable here as before
]


def encode_compressed(model: nnx.Module, compressor, cstate, *, compact: bool = False) -> bytes:
    """``model``'s parameters finalized by ``compressor`` (``compressor.finalize(params,
    cstate)``), as bytes: ``8 x len`` is the model's real code length.

    ``compact=True`` writes `mdl.codec.compact`'s format: no names, shapes or
    architecture, which the reader supplies as a template (``decode_compressed(data,
    model)``); for codes whose decoder knows the architecture already.
    """
    from mdl.models import describe

    _, params = split_params(model)
    leaves = compressor.finalize(params, cstate)
    if compact:
        return encode_compact([leaves[path] for path, _ in leaves_with_paths(params)])
    return encode_model(leaves, arch=describe(model))


def decode_compressed(data: bytes, model: nnx.Module | None = None) -> nnx.Module:
    """The model `encode_compressed` wrote, with its hard weights bit for bit.

    Reference models rebuild themselves from a model file; compact files and other models
    need ``model``, a template of the same structure (its weights are replaced, not used).
    """
    from mdl.models import build

    if kind_of(data) == COMPACT_KIND:
        if model is None:
            raise ValueError("the data is a compact file (MODC); pass model= (a template)")
        graphdef, params = split_params(model)
        flat, treedef = jax.tree_util.tree_flatten(params)
        values = decode_compact(data, [np.shape(leaf) for leaf in flat])
        return nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, list(values)))
    weights, arch = decode_model(data)
    if model is None:
        if arch is None:
            raise ValueError(
                "the model file names no reference architecture; pass model= (a template)"
            )
        model = build(arch)
    graphdef, params = split_params(model)
    flat, treedef = jax.tree_util.tree_flatten(params)
    expected = [path for path, _ in leaves_with_paths(params)]
    if set(expected) != set(weights):
        raise CodecError(f"file holds tensors {sorted(weights)}, the model has {sorted(expected)}")
    values = []
    for path, leaf in zip(expected, flat, strict=True):
        if np.shape(leaf) != weights[path].shape:
            raise CodecError(
                f"tensor {path!r}: file shape {weights[path].shape}, model {np.shape(leaf)}"
            )
        values.append(jnp.asarray(weights[path]))
    return nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, values))


def save_compressed(
    path: str | os.PathLike,
    model: nnx.Module,
    compressor,
    cstate,
    *,
    compact: bool = False,
) -> int:
    r"""Write `encode_compressed`'s bytes atomically to ``path``.

    Args:
      path: the file to write (replaced atomically: temp file, fsync, rename).
      model: the trained Flax NNX model.
      compressor: the compressor it was trained with.
      cstate: the compressor's state.
      compact: write a compact MODC file (no names, shapes or architecture; the reader passes
        a template model) instead of a self-describing MODL file.

    Returns:
      The file's size in bytes; ``8 x`` that is the model's real code length in bits, the
      model part $L(\text{params})$ of a two-part code (what the compressor's ``bits``
      estimates, plus the file's fixed header and the coder's few words).

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (two-part
      codes).
    """
    data = encode_compressed(model, compressor, cstate, compact=compact)
    write_bytes_atomic(path, data)
    return len(data)


def load_compressed(path: str | os.PathLike, model: nnx.Module | None = None) -> nnx.Module:
    """Read a file `save_compressed` wrote (see `decode_compressed`).

    Args:
      path: the file.
      model: a template model of the same architecture, required for compact (MODC) files.

    Returns:
      The model with the file's hard weights, bit for bit.

    Raises:
      CodecError: for corrupt, truncated or forged bytes, or tensors that do not match the
        template.
      ValueError: for a compact file or one naming no reference architecture without
        ``model`` (the message names ``path``).
    """
    try:
        return decode_compressed(Path(path).read_bytes(), model)
    except ValueError as error:
        if isinstance(error, CodecError):
            raise
        raise ValueError(f"{path}: {error}") from None
