"""The compressor protocol, its optimizer split, per-leaf selection, and the float32 baseline.

A compressor is a tuple of pure functions over a parameter pytree ``w``, typed like optax's
``GradientTransformation`` (each function a `typing.Protocol`), so compressors compose,
jit and vmap, and their state ``c`` (the *cstate*) is an ordinary pytree:

* ``init(params, key) -> c``: the compression state (steps, prior parameters, gates, schedule
  counters), from the weights; ``key`` may be None (no mdl compressor draws at init);
* ``apply(params, c, key) -> w~``: the *relaxed* weights the model trains with, noisy
  (``w~ = Q(w) + noise``) or straight-through (``w~ = w + stop_gradient(Q(w) - w)``); ``key``
  is a required PRNG key (compressors that need no randomness ignore it);
* ``hard(params, c) -> Q(w)``: the deterministic weights a file decodes to;
* ``bits(params, c) -> L``: a differentiable estimate of the model's code length in bits,
  side information and 32 bits per scalar of unselected leaves included, whose *value* is the
  file's length less its fixed header (``8 len(file) = L + O(header)``);
* ``finalize(params, c) -> {path: leaf}``: integers plus side information
  (``QuantizedLeaf``, ``GroupedLeaf``, ``SparseLeaf``, ``CodebookLeaf``, ``RawLeaf``), which
  `mdl.codec.model` writes to bytes;
* ``advance(c) -> c``: the scheduled (not learned) part of the state after one optimizer
  step, e.g. ``t <- t + 1, s <- s(t)`` for magnitude pruning's sparsity; the trainer calls it
  once after *every* step (identity for compressors without schedules);
* ``labels(c)``: ``c``'s structure, each leaf ``"learned"`` (moved by the optimizer) or
  ``"schedule"`` (set only by ``advance``).

Training minimizes ``data_bits(apply(w, c, key)) + beta bits(w, c)`` over ``(w, c)``; the
model and the compressor's learned state get separate optimizers, and schedule leaves none
(`make_optimizer`, the documented trainable/static split), so ``optax.adamw`` on the
model never decays a quantizer's step, a prior's scale or a spike's logit. Schedule counters
are float32 arrays, so ``jax.grad`` runs over the whole state (their gradient is zero). One
step of a trainer::

    optimizer = make_optimizer(compressor, cstate, params, optax.adamw(1e-3), optax.adam(1e-3))
    grads = jax.grad(loss)((params, cstate), batch, key)
    updates, opt_state = optimizer.update(grads, opt_state, (params, cstate))
    params, cstate = optax.apply_updates((params, cstate), updates)
    cstate = compressor.advance(cstate)

Compressors that treat the selected leaves one by one are built with `leafwise`: their
state is ``{path: leaf_state}`` for the selected paths, leaf ``i`` of ``sorted(c)`` draws its
noise with ``fold_in(key, i)``, the hard weights come from one jitted program per leaf (the
same bits eagerly and under a caller's jit), and unselected leaves pass through unchanged at
32 bits per scalar. `chain` composes compressors; its state is the tuple of theirs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np
import optax

from mdl.codec.model import QuantizedLeaf, RawLeaf  # noqa: F401  (re-exported)

FLOAT32_BITS = 32  # the stated cost of every scalar a compressor leaves uncompressed
"""32 bits: the stated cost of every scalar a compressor leaves uncompressed (a float32)."""
LEARNED = "learned"  # a state leaf the compressor's optimizer moves
SCHEDULE = "schedule"  # a state leaf only ``advance`` sets (counters, schedule targets)
MODEL = "model"  # a model parameter (the user's optimizer)

Params = Any  # a pytree of weight arrays (an ``nnx.State``, nested dicts...)
CState = Any  # a compressor's state: a pytree of float32 arrays
Selection = str | Callable[[str, Any], bool] | None


class InitFn(Protocol):
    """`init(params, key=None) -> cstate`: a compressor's initial state for a model's parameters."""

    def __call__(self, params: Params, key: jax.Array | None = None) -> CState:
        """The compression state for ``params`` (``key`` for random initialization; mdl's
        compressors initialize deterministically from the weights and ignore it). Refuses NaN
        or infinite weights and selections that match no parameter (ValueError)."""


class ApplyFn(Protocol):
    """`apply(params, cstate, key) -> params`: the relaxed weights a model trains with."""

    def __call__(self, params: Params, cstate: CState, key: jax.Array) -> Params:
        """The relaxed weights the model trains with (noisy or straight-through), with the
        structure of ``params``. ``key`` is a required PRNG key; the deterministic weights a
        file decodes to are `HardFn`'s."""


class HardFn(Protocol):
    """`hard(params, cstate) -> params`: the hard weights a compressor's file decodes to."""

    def __call__(self, params: Params, cstate: CState) -> Params:
        """The hard (quantized, pruned, shared) weights: exactly what ``finalize``'s file
        decodes to."""


class BitsFn(Protocol):
    """`bits(params, cstate) -> scalar`: the model's code length in bits, differentiable."""

    def __call__(self, params: Params, cstate: CState) -> jax.Array:
        """A differentiable scalar estimate of the model's code length in bits, whose value is
        the finalized file's length less its fixed header."""


class FinalizeFn(Protocol):
    """`finalize(params, cstate) -> {path: leaf}`: the codec leaves a model file holds."""

    def __call__(self, params: Params, cstate: CState) -> dict[str, Any]:
        """``{path: leaf}`` for every parameter, in ``params``' order: the codec's leaves
        (integers plus side information, or ``RawLeaf`` float32)."""


class AdvanceFn(Protocol):
    """`advance(cstate) -> cstate`: the state after one more optimizer step (schedules)."""

    def __call__(self, cstate: CState) -> CState:
        """The state after one more optimizer step: schedule leaves move (counters, targets),
        learned leaves are returned unchanged."""


class LabelsFn(Protocol):
    """`labels(cstate) -> pytree`: which state leaves are learned and which are scheduled."""

    def __call__(self, cstate: CState) -> Any:
        """A pytree with ``cstate``'s structure whose leaves are ``"learned"`` (moved by the
        optimizer) or ``"schedule"`` (set only by ``advance``)."""


def no_advance(cstate: CState) -> CState:
    """The `AdvanceFn` of compressors without schedules: the identity."""
    return cstate


def all_learned(cstate: CState) -> Any:
    """The `LabelsFn` of compressors without schedules: every leaf ``"learned"``."""
    return jax.tree.map(lambda _: LEARNED, cstate)


class Compressor(NamedTuple):
    """The protocol (module doc): ``init``, ``apply``, ``hard``, ``bits``, ``finalize``, and
    ``advance``/``labels`` (identity / all learned unless the compressor has schedules)."""

    init: InitFn
    apply: ApplyFn
    hard: HardFn
    bits: BitsFn
    finalize: FinalizeFn
    advance: AdvanceFn = no_advance
    labels: LabelsFn = all_learned


def optimizer_labels(params: Params, compressor: Compressor, cstate: CState) -> tuple[Any, Any]:
    """``(params with every leaf "model", compressor.labels(cstate))``: the labels of the
    trainable pair ``(params, cstate)`` for ``optax.multi_transform``."""
    return jax.tree.map(lambda _: MODEL, params), compressor.labels(cstate)


def make_optimizer(
    compressor: Compressor,
    cstate: CState,
    params: Params,
    model_optimizer: optax.GradientTransformation,
    compressor_optimizer: optax.GradientTransformation,
) -> optax.GradientTransformation:
    """The optimizer of the trainable pair ``(params, cstate)``: ``model_optimizer`` on the
    parameters, ``compressor_optimizer`` on the compressor's learned state, and nothing on its
    schedule leaves (``optax.set_to_zero``; ``advance`` sets them). The documented
    trainable/static split: weight decay or clipping chosen for the model never reaches a
    quantizer's steps, prior scales or spike logits, and no optimizer moves a schedule."""
    return optax.multi_transform(
        {MODEL: model_optimizer, LEARNED: compressor_optimizer, SCHEDULE: optax.set_to_zero()},
        optimizer_labels(params, compressor, cstate),
    )


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
    """``[(path, leaf)]`` for every leaf of the pytree ``params``, in flattening order; ``path``
    is the dotted name that model files and compressor selections use."""
    return [(path_string(p), leaf) for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]]


def map_leaves(params, fn):
    """``params`` with every leaf replaced by ``fn(path, leaf)`` (same tree structure)."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    return jax.tree_util.tree_unflatten(treedef, [fn(path_string(p), leaf) for p, leaf in flat])


def selected_bits(params, cstate: dict, leaf_bits) -> jax.Array:
    """``sum`` over the leaves of ``leaf_bits(w, cstate[path])`` for those a compressor holds
    state for, and the stated 32 bits per scalar for every other leaf."""
    total = jax.numpy.float32(0.0)
    for path, w in leaves_with_paths(params):
        if path in cstate:
            total = total + leaf_bits(w, cstate[path])
        else:
            total = total + FLOAT32_BITS * np.size(w)
    return total


def selected_finalize(params, cstate: dict, leaf_finalize) -> dict:
    """``{path: leaf_finalize(w, cstate[path])}`` for the leaves with state, ``RawLeaf``
    (float32) for the others, after refusing NaN or infinite weights."""
    check_finite_params(params)
    return {
        path: leaf_finalize(w, cstate[path])
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
    `default_selection`. Raises ValueError when nothing matches."""
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


def check_key(key) -> None:
    """Refuse ``apply`` without a PRNG key (the old ``key=None`` meant the hard weights)."""
    if key is None:
        raise TypeError(
            "Compressor.apply needs a PRNG key (it returns the relaxed weights training uses); "
            "for the deterministic weights a file decodes to, call compressor.hard(params, cstate)"
        )


def leaf_keys(key, cstate: dict) -> dict:
    """The one per-leaf key derivation of every compressor: leaf ``i`` of ``sorted(cstate)``
    draws with ``jax.random.fold_in(key, i)``."""
    return {path: jax.random.fold_in(key, i) for i, path in enumerate(sorted(cstate))}


def leafwise(
    select: Selection,
    *,
    init: Callable[[str, np.ndarray], Any],
    relaxed: Callable[[jax.Array, Any, jax.Array], jax.Array] | None,
    hard: Callable[[jax.Array, Any], jax.Array],
    bits: Callable[[jax.Array, Any], jax.Array],
    finalize: Callable[[jax.Array, Any], Any],
    advance: Callable[[Any], Any] | None = None,
    labels: Callable[[Any], Any] | None = None,
) -> Compressor:
    """A `Compressor` from per-leaf functions, the scaffolding every selecting
    compressor shares.

    Its state is ``{path: init(path, w)}`` over the paths ``select`` picks (after refusing NaN
    or infinite weights); every other leaf passes through unchanged, costs 32 bits per scalar
    and is written as a ``RawLeaf``. For a selected leaf ``w`` with state ``c``:

    * ``apply``: ``relaxed(w, c, k)`` with the leaf's key ``k = fold_in(key, i)``, ``i`` its
      index in ``sorted(cstate)`` (``relaxed=None``: the hard weights, for compressors whose
      training weights are their hard weights with straight-through or no gradients);
    * ``hard``: ``hard(w, c)``, always through ``jax.jit`` (so eager and jitted callers get
      the same bits; pass ``jax.jit(hard)`` to share that program with ``finalize``);
      ``bits``: ``sum bits(w, c)``; ``finalize``: ``finalize(w, c)``;
    * ``advance``: ``advance(c)`` per leaf (None: identity);
    * ``labels``: ``labels(c)`` per leaf (None: every leaf ``"learned"``).
    """
    # One compiled program per leaf shape computes the hard weights, called eagerly or inlined
    # into a caller's jit alike: eager op-by-op execution can round differently from a fused
    # program (a multiply-add contracted to an FMA), and the file must hold exactly these bits.
    hard = hard if isinstance(hard, jax.stages.Wrapped) else jax.jit(hard)
    relaxed = relaxed if relaxed is not None else (lambda w, state, key: hard(w, state))

    def init_fn(params, key=None):
        del key  # per-leaf states are functions of the weights
        check_finite_params(params)
        leaves = dict(leaves_with_paths(params))
        return {path: init(path, leaves[path]) for path in selected_paths(params, select)}

    def apply_fn(params, cstate, key):
        check_key(key)
        keys = leaf_keys(key, cstate)
        return map_leaves(
            params, lambda path, w: relaxed(w, cstate[path], keys[path]) if path in cstate else w
        )

    def hard_fn(params, cstate):
        return map_leaves(params, lambda path, w: hard(w, cstate[path]) if path in cstate else w)

    def bits_fn(params, cstate):
        return selected_bits(params, cstate, bits)

    def finalize_fn(params, cstate):
        return selected_finalize(params, cstate, finalize)

    def advance_fn(cstate):
        return {path: advance(state) for path, state in cstate.items()}

    def labels_fn(cstate):
        return {path: labels(state) for path, state in cstate.items()}

    return Compressor(
        init_fn,
        apply_fn,
        hard_fn,
        bits_fn,
        finalize_fn,
        advance_fn if advance is not None else no_advance,
        labels_fn if labels is not None else all_learned,
    )


def float32_baseline() -> Compressor:
    """No compression: every scalar at float32 (32 bits). The baseline all ratios refer to.

    ``bits`` is $32 N$ for a model of $N$ scalars (a Python float), ``apply`` and ``hard``
    return the weights unchanged, and ``finalize`` writes every leaf as a ``RawLeaf``.

    Returns:
      A `Compressor` with empty state.
    """

    def init(params, key=None):
        check_finite_params(params)
        return {}

    def apply(params, cstate, key):
        check_key(key)
        return params

    def hard(params, cstate):
        return params

    def bits(params, cstate):
        return float(FLOAT32_BITS * sum(np.size(leaf) for leaf in jax.tree.leaves(params)))

    def finalize(params, cstate):
        return selected_finalize(params, {}, None)

    return Compressor(init, apply, hard, bits, finalize)


def chain(*compressors: Compressor) -> Compressor:
    r"""Compose compressors, like optax's ``chain``: each transforms the weights the previous
    one produced, and the last one writes the code. The state is the tuple of the members'
    states. For ``chain(a, b)``:

    * ``apply(w, (c_a, c_b), key) = b.apply(a.apply(w, c_a, k_0), c_b, k_1)``,
      ``k_i = fold_in(key, i)``; ``hard`` composes the members' ``hard``;
    * ``bits``/``finalize`` are ``b``'s at ``a.hard(w, c_a)``
      (``chain(hard_concrete(), quantizer())``: gates zero weights, the quantizer's spike
      prior pays for the zeros);
    * ``advance``/``labels`` are the members', member by member.

    So the code length in bits is the last member's,
    $L = L_{\text{last}}(h_{n-1} \circ \cdots \circ h_1(w))$ with $h_i$ the earlier members'
    ``hard``: the earlier members change the weights, and only the last one is charged.

    Args:
      *compressors: one or more `Compressor` instances, applied in order.

    Returns:
      A `Compressor` whose state is the tuple of the members' states.

    Raises:
      TypeError: when no compressor is given or one is not a `Compressor`.
    """
    if not compressors or not all(isinstance(c, Compressor) for c in compressors):
        raise TypeError("chain needs one or more Compressor instances")
    last = len(compressors) - 1

    def prefix(params, cstate, upto):
        for index in range(upto):
            params = compressors[index].hard(params, cstate[index])
        return params

    def init(params, key=None):
        states = []
        for index, compressor in enumerate(compressors):
            state = compressor.init(params, None if key is None else jax.random.fold_in(key, index))
            states.append(state)
            params = compressor.hard(params, state)
        return tuple(states)

    def apply(params, cstate, key):
        check_key(key)
        for index, compressor in enumerate(compressors):
            params = compressor.apply(params, cstate[index], jax.random.fold_in(key, index))
        return params

    def hard(params, cstate):
        return prefix(params, cstate, len(compressors))

    def bits(params, cstate):
        return compressors[last].bits(prefix(params, cstate, last), cstate[last])

    def finalize(params, cstate):
        return compressors[last].finalize(prefix(params, cstate, last), cstate[last])

    def advance(cstate):
        return tuple(c.advance(s) for c, s in zip(compressors, cstate, strict=True))

    def labels(cstate):
        return tuple(c.labels(s) for c, s in zip(compressors, cstate, strict=True))

    return Compressor(init, apply, hard, bits, finalize, advance, labels)
