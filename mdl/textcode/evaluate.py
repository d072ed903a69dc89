r"""Ideal code lengths of a text under a trained character model, and its Occam bound.

`text_bits` computes $\sum_i -\log_2 \tilde p(x_i \mid x_{<i})$ for a `TextModel` over a text
read as interleaved streams (the layout the archives use), with the model's predictive
distribution smoothed towards uniform, $\tilde p = (1 - \alpha) p + \alpha / V$, so every
character costs at most $\log_2(V / \alpha)$ bits: the bounded loss a generalization bound
needs (Lotfi et al., "Non-vacuous generalization bounds for large language models", 2023,
smooth predictions the same way). No file is written, so the forward pass runs as a scan over
windows, far faster than the coder's step-by-step loop; the numbers are estimates of the
archive's data part (the archive's coder adds a few words).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from mdl.bounds import code_length_bound
from mdl.textcode.archive import TextModel, _as_bytes, _symbols, _window_arrays
from mdl.textcode.predictor import window_logits
from mdl.textcode.streams import Streams


@functools.cache
def _window_bits(graphdef, smoothing: float):
    @jax.jit
    def bits(params, carry, inputs, targets, mask):
        carry, logits = window_logits(nnx.merge(graphdef, params), carry, inputs)
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
        probs = (1.0 - smoothing) * probs + smoothing / probs.shape[-1]
        chosen = jnp.take_along_axis(probs, targets[..., None], axis=-1)[..., 0]
        return carry, jnp.where(mask, -jnp.log2(chosen), 0.0).sum()

    return bits


def text_bits(
    model: TextModel, data: bytes, *, streams: int = 64, window: int = 256, smoothing=0.0
) -> float:
    """``sum_i -log2 p~(x_i | x_<i)`` in bits for ``data`` under ``model`` (module doc).

    Args:
      model: a `TextModel` (`mdl.textcode.train_text_model`).
      data: bytes within the model's alphabet.
      streams, window: the interleaved layout and the scan's length (they change which
        history each character is predicted from, as the archives' ``streams`` does).
      smoothing: $\alpha \\in [0, 1)$, the weight of the uniform distribution mixed in.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1); got {smoothing!r}")
    raw = _as_bytes(data)
    layout = Streams.of(raw.size, streams)
    grid = layout.grid(_symbols(raw, model.alphabet))
    graphdef, params = model.params()
    bits_of = _window_bits(graphdef, float(smoothing))
    carry = jnp.zeros((layout.streams, model.spec.hidden), jnp.float32)
    total = 0.0
    for start in range(0, layout.length, window):
        carry, bits = bits_of(params, carry, *_window_arrays(layout, grid, start, window))
        total += float(bits)
    return total


def text_occam_bound(
    model: TextModel, data: bytes, *, code_bits: float, smoothing: float = 0.01, delta=0.05
) -> dict:
    r"""The Occam bound on the expected bits per character of ``model``, trained on
    ``data``, described in ``code_bits`` bits (its model file plus whatever else was chosen
    with the data), with $\alpha$ = ``smoothing``: `mdl.bounds.code_length_bound` with
    per-character lengths in $[0, \log_2(V/\alpha)]$ and $m$ = the characters of ``data``.

    The bound treats the characters as $m$ i.i.d. draws, which consecutive characters of a
    text are not; the result is the bound under that assumption, to set beside a held-out
    measurement, not a guarantee for a text's continuation.

    Returns:
      ``{"train_bpc", "max_bits", "code_bits", "m", "delta", "smoothing", "bound_bpc"}``.
    """
    m = len(data)
    train_bpc = text_bits(model, data, smoothing=smoothing) / m
    max_bits = math.log2(model.alphabet.size / smoothing)
    bound = float(code_length_bound(train_bpc, max_bits, code_bits, m, delta))
    return {
        "train_bpc": train_bpc,
        "max_bits": max_bits,
        "code_bits": float(code_bits),
        "m": m,
        "delta": delta,
        "smoothing": smoothing,
        "bound_bpc": bound,
    }
