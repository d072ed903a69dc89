"""Compressed Flax NNX models on disk: ``save_compressed`` and ``load_compressed``."""

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
from mdl.compress.base import Compressor, leaves_with_paths
from mdl.records import write_bytes_atomic


def split_params(model: nnx.Module):
    """``(graphdef, params)`` of a model whose whole state is ``nnx.Param`` (refuses others:
    they could not be restored from a weights file)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    others = [p for p, _ in leaves_with_paths(rest)]
    if others:
        raise ValueError(
            f"model has non-parameter state that a compressed file cannot hold: {others}"
        )
    return graphdef, params


def save_compressed(
    path: str | os.PathLike,
    model: nnx.Module,
    compressor: Compressor,
    cstate,
    *,
    compact: bool = False,
) -> int:
    """Finalize ``model``'s parameters with ``compressor`` and write them atomically to
    ``path``; returns the file size in bytes (``8 x`` that is the model's real code length).

    ``compact=True`` writes :mod:`mdl.codec.compact`'s format: no names, shapes or
    architecture, which the reader supplies as a template (``load_compressed(path, model)``);
    for codes whose decoder knows the architecture already.
    """
    from mdl.models import describe

    _, params = split_params(model)
    leaves = compressor.finalize(params, cstate)
    if compact:
        data = encode_compact([leaves[p] for p, _ in leaves_with_paths(params)])
    else:
        data = encode_model(leaves, arch=describe(model))
    write_bytes_atomic(path, data)
    return len(data)


def load_compressed(path: str | os.PathLike, model: nnx.Module | None = None) -> nnx.Module:
    """Read a compressed model. Reference models rebuild themselves from the file; others need
    ``model``, a template of the same structure (its weights are replaced, not used)."""
    from mdl.models import build

    data = Path(path).read_bytes()
    if kind_of(data) == COMPACT_KIND:
        if model is None:
            raise ValueError(f"{path} is a compact file; pass model= (a template)")
        graphdef, params = split_params(model)
        flat, treedef = jax.tree_util.tree_flatten(params)
        values = decode_compact(data, [np.shape(leaf) for leaf in flat])
        return nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, list(values)))
    weights, arch = decode_model(data)
    if model is None:
        if arch is None:
            raise ValueError(f"{path} names no reference architecture; pass model= (a template)")
        model = build(arch)
    graphdef, params = split_params(model)
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    expected = [p for p, _ in leaves_with_paths(params)]
    if set(expected) != set(weights):
        raise CodecError(f"file holds tensors {sorted(weights)}, the model has {sorted(expected)}")
    values = []
    for path_, (_, leaf) in zip(expected, flat, strict=True):
        if np.shape(leaf) != weights[path_].shape:
            raise CodecError(
                f"tensor {path_!r}: file shape {weights[path_].shape}, model {np.shape(leaf)}"
            )
        values.append(jnp.asarray(weights[path_]))
    return nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, values))
