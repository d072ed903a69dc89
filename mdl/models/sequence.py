"""Small next-symbol models for formal languages and character-level text."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx


class CharTransformer(nnx.Module):
    """Decoder-only transformer: token + learned position embeddings, ``num_layers`` pre-norm
    blocks (causal multi-head attention, GELU MLP of width ``4 * dim``), final LayerNorm and an
    untied output layer (Vaswani et al. 2017; Radford et al. 2019 for the pre-norm layout).

    Parameters: ``V d + T d`` embeddings, per block ``4 (d^2 + d)`` attention + ``8 d^2 + 5 d``
    MLP + ``4 d`` norms, then ``2 d`` final norm and ``d V + V`` head.
    Input: int tokens ``[..., T]`` with ``T <= context``; output logits ``[..., T, V]``.

    Args:
      vocab_size: $V$.
      context: the longest sequence $T$ (the position embeddings' count).
      dim: $d$, divisible by ``num_heads``.
      num_heads: attention heads.
      num_layers: blocks.
      rngs: the initializers' random streams.

    References:
      A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. N. Gomez, L. Kaiser,
      I. Polosukhin, "Attention is all you need", NeurIPS 2017; A. Radford, J. Wu, R. Child,
      D. Luan, D. Amodei, I. Sutskever, "Language models are unsupervised multitask
      learners", 2019 (GPT-2, pre-norm).
    """

    def __init__(
        self,
        vocab_size: int,
        context: int,
        *,
        dim: int = 64,
        num_heads: int = 4,
        num_layers: int = 2,
        rngs: nnx.Rngs,
    ):
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.context, self.vocab_size, self.dim = context, vocab_size, dim
        self.num_heads, self.num_layers = num_heads, num_layers
        self.token = nnx.Embed(vocab_size, dim, rngs=rngs)
        self.position = nnx.Embed(context, dim, rngs=rngs)
        self.blocks = nnx.List([_Block(dim, num_heads, rngs=rngs) for _ in range(num_layers)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.head = nnx.Linear(dim, vocab_size, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        length = tokens.shape[-1]
        if length > self.context:
            raise ValueError(f"sequence length {length} exceeds the context {self.context}")
        h = self.token(tokens) + self.position(jnp.arange(length))
        mask = nnx.make_causal_mask(tokens)
        for block in self.blocks:
            h = block(h, mask)
        return self.head(self.norm(h))


class _Block(nnx.Module):
    def __init__(self, dim: int, num_heads: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(num_heads, dim, decode=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.up = nnx.Linear(dim, 4 * dim, rngs=rngs)
        self.down = nnx.Linear(4 * dim, dim, rngs=rngs)

    def __call__(self, h: jax.Array, mask: jax.Array) -> jax.Array:
        normed = self.norm1(h)
        h = h + self.attention(normed, normed, normed, mask=mask)
        return h + self.down(jax.nn.gelu(self.up(self.norm2(h))))


class CharRNN(nnx.Module):
    """Embedding, one GRU layer (Cho et al. 2014), linear output: the small recurrent model.

    Parameters: ``V e`` embedding, GRU ``3 (e h + h + h h)`` (flax's GRUCell: a biased input
    kernel and an unbiased recurrent kernel for the three gates), head ``h V + V``.
    Input ``[..., T]`` ints; output ``[..., T, V]``.

    The carry starts at zero; step $t$'s logits depend on tokens $0..t$ only.

    Args:
      vocab_size: $V$.
      embed_dim: $e$.
      hidden: $h$, the GRU's width.
      rngs: the initializers' random streams.

    References:
      K. Cho, B. van Merriënboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk,
      Y. Bengio, "Learning phrase representations using RNN encoder-decoder for statistical
      machine translation", EMNLP 2014 (the GRU).
    """

    def __init__(self, vocab_size: int, *, embed_dim: int = 16, hidden: int = 64, rngs: nnx.Rngs):
        self.vocab_size, self.embed_dim, self.hidden = vocab_size, embed_dim, hidden
        self.embed = nnx.Embed(vocab_size, embed_dim, rngs=rngs)
        # rngs=False: the carry starts at zero (given below), so the layer holds no random
        # stream, and its whole state is parameters that a model file can restore.
        self.rnn = nnx.RNN(nnx.GRUCell(embed_dim, hidden, rngs=rngs), rngs=False)
        self.head = nnx.Linear(hidden, vocab_size, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        embedded = self.embed(tokens)
        carry = jnp.zeros((*embedded.shape[:-2], self.hidden), embedded.dtype)
        return self.head(self.rnn(embedded, initial_carry=carry))


class CountingRNN(nnx.Module):
    r"""A diagonal linear recurrence read out by a small ReLU network: the smallest cell that can
    count exactly.

    $h_t = \lambda \odot h_{t-1} + E[x_t]$ (state width $s$, $h_{-1} = 0$), and the logits are
    $W_2\,\mathrm{relu}(W_1 [h_t; \mathrm{onehot}(x_t)] + b_1) + b_2$ (readout width $r$). With
    $\lambda_i = 1$ a state unit is a counter ($h_t$ adds $E[x_t]$ at every symbol, so
    $E[a] = 1, E[b] = -1$ counts a's less b's); the readout compares counts with zero. Counting
    needs $\lambda_i$ to be exactly 1 and the increments to cancel exactly, which float weights
    only approximate and quantized weights on a power-of-two grid can hit (Lan et al. 2022 found
    such networks with an MDL objective; the recurrence is the real, diagonal case of Orvieto
    et al.'s linear recurrent unit).

    All parameters live in one vector (``weights``), so a quantizer charges one step and one
    prior for the whole network: for a network of a few dozen weights, per-tensor side
    information (96 bits a tensor) would otherwise outweigh the weights themselves.
    `tensors` unpacks it into named matrices for reading.

    Parameters: $V s$ embedding, $s$ decays, $(s + V) r + r$ readout layer, $r V + V$ output.

    Args:
      vocab_size: $V$.
      state: $s$, the recurrence's width.
      readout: $r$, the readout's hidden width.
      rngs: the initializers' random streams.

    References:
      N. Lan, M. Geyer, E. Chemla, R. Katzir, "Minimum description length recurrent neural
      networks", TACL 2022; A. Orvieto, S. L. Smith, A. Gu, A. Fernando, C. Gulcehre,
      R. Pascanu, S. De, "Resurrecting recurrent neural networks for long sequences", ICML 2023.
    """

    def __init__(self, vocab_size: int, *, state: int = 2, readout: int = 4, rngs: nnx.Rngs):
        for name, value in (("vocab_size", vocab_size), ("state", state), ("readout", readout)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        self.vocab_size, self.state, self.readout = vocab_size, state, readout
        shapes = self.shapes()
        keys = jax.random.split(rngs.params(), len(shapes))
        pieces = []
        for key, (name, shape) in zip(keys, shapes.items(), strict=True):
            if name == "decay":
                # Start near (not at) a counter: every unit remembers, none counts exactly.
                pieces.append(jnp.full(shape, 0.9))
            elif name.endswith("bias"):
                pieces.append(jnp.zeros(shape))
            else:
                pieces.append(0.5 * jax.random.normal(key, shape))
        self.weights = nnx.Param(jnp.concatenate([p.reshape(-1) for p in pieces]))

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The named tensors packed in ``weights``, in order."""
        v, s, r = self.vocab_size, self.state, self.readout
        return {
            "embed": (v, s),
            "decay": (s,),
            "hidden": (s + v, r),
            "hidden_bias": (r,),
            "output": (r, v),
            "output_bias": (v,),
        }

    def tensors(self, weights: jax.Array | None = None) -> dict[str, jax.Array]:
        """``weights`` (default: the model's) unpacked into the named tensors of `shapes`."""
        flat = self.weights[...] if weights is None else weights
        out, start = {}, 0
        for name, shape in self.shapes().items():
            size = int(np.prod(shape))
            out[name] = flat[start : start + size].reshape(shape)
            start += size
        return out

    def __call__(self, tokens: jax.Array) -> jax.Array:
        t = self.tensors()
        increments = jnp.moveaxis(t["embed"][tokens], -2, 0)  # [T, ..., s]

        def step(h, increment):
            h = t["decay"] * h + increment
            return h, h

        _, states = jax.lax.scan(step, jnp.zeros(increments.shape[1:]), increments)
        states = jnp.moveaxis(states, 0, -2)
        features = jnp.concatenate([states, jax.nn.one_hot(tokens, self.vocab_size)], -1)
        hidden = jax.nn.relu(features @ t["hidden"] + t["hidden_bias"])
        return hidden @ t["output"] + t["output_bias"]
