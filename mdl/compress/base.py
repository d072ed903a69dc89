"""The compressor protocol, per-leaf selection, and what a finalized model is.

A compressor is a pair of pure functions over a parameter pytree, modeled on optax's
``GradientTransformation``, so compressors compose, jit and vmap:

* ``init(params, key) -> cstate``: learnable compression state (steps, prior parameters);
* ``apply(params, cstate, key | None) -> params``: the weights the model runs with, relaxed
  (noisy or straight-through) with a key, hard (quantized) without;
* ``bits(params, cstate) -> scalar``: differentiable estimate of L(params) in bits, including
  side information and the fixed cost of leaves it leaves uncompressed;
* ``finalize(params, cstate) -> {path: QuantizedLeaf | RawLeaf}``: integers plus side
  information, which ``mdl.codec.model`` writes to bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from mdl.codec.model import QuantizedLeaf, RawLeaf  # noqa: F401  (re-exported)

FLOAT32_BITS = 32  # the stated cost of every scalar a compressor leaves uncompressed

Selection = str | Callable[[str, Any], bool] | None


class Compressor(NamedTuple):
    init: Callable
    apply: Callable
    bits: Callable
    finalize: Callable
    # Optional: ``update(cstate, step) -> cstate``, called by the trainer after every optimizer
    # step for state that follows a schedule instead of a gradient (magnitude pruning).
    update: Callable | None = None


def path_string(path) -> str:
    """``layers/0/kernel`` for a JAX key path (``.value`` of NNX variables dropped)."""
    parts = []
    for key in path:
        name = getattr(key, "key", getattr(key, "idx", getattr(key, "name", None)))
        parts.append(str(name if name is not None else key))
    if parts and parts[-1] == "value":
        parts.pop()
    return "/".join(parts)


def leaves_with_paths(params) -> list[tuple[str, Any]]:
    return [(path_string(p), leaf) for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]]


def map_leaves(params, fn):
    """``params`` with every leaf replaced by ``fn(path, leaf)`` (same tree structure)."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    return jax.tree_util.tree_unflatten(treedef, [fn(path_string(p), leaf) for p, leaf in flat])


def selected_bits(params, cstate: dict, leaf_bits) -> jax.Array:
    """``sum`` over the leaves of ``leaf_bits(path, w, cstate[path])`` for those a compressor
    holds state for, and the stated 32 bits per scalar for every other leaf."""
    total = jax.numpy.float32(0.0)
    for path, w in leaves_with_paths(params):
        if path in cstate:
            total = total + leaf_bits(path, w, cstate[path])
        else:
            total = total + FLOAT32_BITS * np.size(w)
    return total


def selected_finalize(params, cstate: dict, leaf_finalize) -> dict:
    """``{path: leaf_finalize(path, w, cstate[path])}`` for the leaves with state, ``RawLeaf``
    (float32) for the others, after refusing NaN or infinite weights."""
    check_finite_params(params)
    return {
        path: leaf_finalize(path, w, cstate[path])
        if path in cstate
        else RawLeaf(np.asarray(w, np.float32))
        for path, w in leaves_with_paths(params)
    }


def default_selection(path: str, leaf) -> bool:
    """Weight matrices and convolution kernels (``ndim >= 2``); biases stay float32."""
    return np.ndim(leaf) >= 2


def selected_paths(params, select: Selection = None) -> list[str]:
    """Paths of the leaves ``select`` picks: a regular expression searched in the path
    (``"kernel"``, ``"layers/[01]/"``), a predicate ``(path, leaf) -> bool``, or None for
    :func:`default_selection`. Raises ValueError when nothing matches."""
    leaves = leaves_with_paths(params)
    if select is None:
        chosen = [p for p, leaf in leaves if default_selection(p, leaf)]
    elif isinstance(select, str):
        pattern = re.compile(select)
        chosen = [p for p, _ in leaves if pattern.search(p)]
    elif callable(select):
        chosen = [p for p, leaf in leaves if select(p, leaf)]
    else:
        raise TypeError(
            f"select must be a regex string, a predicate or None; got {type(select).__name__}"
        )
    if not chosen:
        available = ", ".join(p for p, _ in leaves) or "(no leaves)"
        raise ValueError(f"select={select!r} matches no parameter; the parameters are: {available}")
    return chosen


def check_finite_params(params, name: str = "params") -> None:
    """Refuse NaN or infinite weights before they poison a code length."""
    for path, leaf in leaves_with_paths(params):
        if isinstance(leaf, jax.core.Tracer):
            continue
        values = np.asarray(leaf)
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise ValueError(f"{name} leaf {path!r} holds NaN or infinite values")


def float32_baseline() -> Compressor:
    """No compression: every scalar at float32 (32 bits). The baseline all ratios refer to."""

    def init(params, key=None):
        check_finite_params(params)
        return {}

    def apply(params, cstate, key=None):
        return params

    def bits(params, cstate):
        return float(FLOAT32_BITS * sum(np.size(leaf) for leaf in jax.tree.leaves(params)))

    def finalize(params, cstate):
        check_finite_params(params)
        return {
            path: RawLeaf(np.asarray(leaf, np.float32)) for path, leaf in leaves_with_paths(params)
        }

    return Compressor(init, apply, bits, finalize)


def chain(*compressors: Compressor) -> Compressor:
    """Compose compressors: each transforms the weights the previous one produced, and the last
    one writes the code. ``apply`` runs them in order (each with its own key);
    ``bits``/``finalize`` are the last one's, at the hard output of the ones before it
    (``chain(hard_concrete(), quantizer())``: gates zero weights, the quantizer's spike prior
    pays for the zeros). The state is a tuple of the members' states. Like optax's ``chain``.
    """
    if not compressors or not all(isinstance(c, Compressor) for c in compressors):
        raise TypeError("chain needs one or more Compressor instances")

    def _key(key, index):
        return None if key is None else jax.random.fold_in(key, index)

    def prefix(params, cstate, key=None, upto=None):
        upto = len(compressors) - 1 if upto is None else upto
        for index in range(upto):
            params = compressors[index].apply(params, cstate[index], _key(key, index))
        return params

    def init(params, key=None):
        states = []
        for index, compressor in enumerate(compressors):
            state = compressor.init(params, _key(key, index))
            states.append(state)
            params = compressor.apply(params, state, None)
        return tuple(states)

    def apply(params, cstate, key=None):
        return prefix(params, cstate, key, upto=len(compressors))

    def bits(params, cstate):
        return compressors[-1].bits(prefix(params, cstate), cstate[-1])

    def finalize(params, cstate):
        return compressors[-1].finalize(prefix(params, cstate), cstate[-1])

    def update(cstate, step):
        return tuple(
            c.update(s, step) if c.update is not None else s
            for c, s in zip(compressors, cstate, strict=True)
        )

    has_update = any(c.update is not None for c in compressors)
    return Compressor(init, apply, bits, finalize, update if has_update else None)
