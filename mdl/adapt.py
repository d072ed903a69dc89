r"""Adapting a pretrained model while paying only for the change.

A pretrained model is a prior: the decoder has it, so adapting it to new data costs the bits
of the modification only. `adapt` is the pipeline: start from the reference's file (the
weights the decoder will have, bit for bit), optionally freeze all but some leaves, train
``data bits + beta x delta bits`` with a `mdl.compress.delta` compressor, and write the delta
file (`mdl.compress.encode_delta`, which names the reference by its SHA-256). The adapted
model's two-part code is then structure + delta + labels given the model
(`mdl.estimators.two_part` with ``reference=``).

The deltas the issue names are each one ``inner`` compressor:

* dense: ``quantizer(lambda p, w: True)`` (a spike-and-slab prior prices unchanged weights at a
  fraction of a bit);
* sparse: ``chain(hard_concrete(lambda p, w: True), quantizer(lambda p, w: True))``;
* low-rank: `mdl.compress.lora` (quantized LoRA factors);
* head only: the dense quantizer with ``trainable="head"`` (the rest frozen at the reference,
  so its zero change costs only side information).

References:
  E. J. Hu et al., "LoRA: Low-rank adaptation of large language models", ICLR 2022;
  S. Lotfi et al., "PAC-Bayes compression bounds so tight that they can explain
  generalization", NeurIPS 2022.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from mdl.compress.base import Compressor, Selection, leaves_with_paths, selected_paths
from mdl.compress.delta_code import decode_delta, delta, encode_delta, reference_params
from mdl.compress.files import decode_compressed
from mdl.cosine_adam import cosine_decay
from mdl.data.dataset import Dataset
from mdl.params import split_params
from mdl.train import fit


class AdaptResult(NamedTuple):
    """What `adapt` returns: the adapted model as its delta file decodes, the file, and the
    training record."""

    model: nnx.Module  # reference + delta, decoded from ``delta_file``
    delta_file: bytes
    compressor: Compressor  # delta(inner, reference)
    params: object  # the trained (relaxed) parameters: compressor.hard(params, cstate) is the file
    cstate: object
    history: list[dict]
    trainable: list[str]  # the paths that were trained


def freeze_except(mask: list[bool]) -> optax.GradientTransformation:
    """Zero the updates of the leaves whose entry of ``mask`` is False.

    ``mask`` follows the flattening order of the model's parameters. Inside `mdl.train.fit`
    the model's optimizer sees the pair (parameters, compressor state) with the compressor's
    leaves masked out (empty nodes), so its leaves are exactly the parameters, in order; a
    tree with another number of leaves is refused.
    """
    mask = [bool(m) for m in mask]

    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None):
        del params
        leaves, treedef = jax.tree.flatten(updates)
        if len(leaves) != len(mask):
            raise ValueError(f"freeze_except got {len(leaves)} leaves; its mask has {len(mask)}")
        kept = [u if m else jnp.zeros_like(u) for u, m in zip(leaves, mask, strict=True)]
        return jax.tree.unflatten(treedef, kept), state

    return optax.GradientTransformation(init, update)


def adapt(
    reference_file: bytes,
    template: nnx.Module,
    data: Dataset,
    inner: Compressor,
    *,
    trainable: Selection | str = "all",
    beta: float = 1.0,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 128,
    key: jax.Array | None = None,
    progress: bool = False,
) -> AdaptResult:
    r"""Adapt the reference model to ``data``, paying only for the change (module doc).

    Minimizes $\sum_i L(y_i \mid x_i; r + d) + \beta L(d)$ over the delta $d$, with $L(d)$
    ``inner``'s code length of $d$ (``beta = 1``: the two-part code given the reference),
    by Adam with a cosine-decayed learning rate, then writes the delta file and decodes it: the
    returned model is the file's, so every figure measured on it is the real file's.

    Args:
      reference_file: the bytes of the pretrained model's file (any `mdl.compress` file; a
        float32 one for an uncompressed reference). The delta file names it by SHA-256.
      template: a model of the reference's architecture (its weights are not used).
      data: the adaptation data (its test split, if any, is evaluated each epoch; pass
        `mdl.data.without_test` data when the test set must stay unread).
      inner: the delta's compressor (module doc).
      trainable: which parameters move: ``"all"``, or a selection (regex on the path,
        predicate); the others stay at the reference.
      beta: the weight on the delta's bits.
      epochs: passes over ``data``'s training split.
      learning_rate: Adam's initial step (cosine decay to zero), for the weights and the
        compressor's learned state alike.
      batch_size: examples per step.
      key: PRNG key for batches, noise and the compressor's initialization (default key 0).
      progress: show a progress bar.

    Returns:
      An `AdaptResult`.

    Raises:
      ValueError: when ``trainable`` matches no parameter, or ``template`` does not fit the
        reference's file.
    """
    if not isinstance(inner, Compressor):
        raise TypeError(f"inner must be a Compressor; got {type(inner).__name__}")
    start = decode_compressed(reference_file, template)
    reference = reference_params(reference_file, template)
    compressor = delta(inner, reference)
    _, params = split_params(start)
    paths = [path for path, _ in leaves_with_paths(params)]
    chosen = paths if trainable == "all" else selected_paths(params, trainable)
    key = jax.random.key(0) if key is None else key
    schedule = cosine_decay(
        learning_rate, epochs=epochs, examples=len(data.y_train), batch_size=batch_size
    )
    optimizer = optax.adam(schedule)
    if len(chosen) < len(paths):
        optimizer = optax.chain(optimizer, freeze_except([p in chosen for p in paths]))
    result = fit(
        start,
        data,
        compressor=compressor,
        optimizer=optimizer,
        compressor_optimizer=optax.adam(schedule),
        epochs=epochs,
        batch_size=batch_size,
        beta=beta,
        key=key,
        progress=progress,
    )
    frozen = [p for p in paths if p not in chosen]
    moved = {
        path: float(np.max(np.abs(np.asarray(w) - np.asarray(r))))
        for (path, w), (_, r) in zip(
            leaves_with_paths(result.params), leaves_with_paths(reference), strict=True
        )
        if path in frozen
    }
    if any(moved.values()):  # the freeze failed: the file would pay for what was never trained
        raise RuntimeError(f"frozen parameters moved: {moved}")
    delta_file = encode_delta(result.model, compressor, result.cstate, reference_file)
    model = decode_delta(delta_file, reference_file, template)
    return AdaptResult(
        model, delta_file, compressor, result.params, result.cstate, result.history, chosen
    )
