"""Parameters of Flax NNX models, as the rest of mdl sees them."""

from __future__ import annotations

from flax import nnx


def split_params(model: nnx.Module):
    """``(graphdef, params)`` of a model whose whole state is ``nnx.Param`` (refuses others:
    they could not be restored from a weights file)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    others = ["/".join(map(str, path)) for path, _ in nnx.to_flat_state(rest)]
    if others:
        raise ValueError(
            f"model has non-parameter state that a compressed file cannot hold: {others}"
        )
    return graphdef, params


__all__ = ["split_params"]
