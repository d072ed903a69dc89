r"""Low-rank deltas (LoRA), quantized: a change of a weight matrix coded as two small factors.

LoRA (Hu et al. 2022) adapts a pretrained weight $W_0 \in \mathbb{R}^{m \times n}$ by
$W = W_0 + A B$ with $A \in \mathbb{R}^{m \times r}$, $B \in \mathbb{R}^{r \times n}$ and
$r \ll \min(m, n)$: the change has $r (m + n)$ numbers instead of $m n$. Here the factors are
quantized with learned steps and learned (spike-and-slab) priors, so the change costs
$\sum -\log_2 P(k)$ over the factors' bins plus side information, and a file holds exactly
that (a ``LowRankLeaf``). `lora` codes a *change*: use it inside `mdl.compress.delta`, which
adds the reference, so ``delta(lora(4), reference)`` trains ``W_0 + Q(A) Q(B)``.

* Selected leaves (matrices and kernels by default; a kernel of shape ``[..., n]`` is the
  ``[prod(...), n]`` matrix) ignore the incoming values: the change is the factors' product.
  The factors are learned compressor state (moved by the compressor optimizer), with
  ``B = 0`` at ``init`` (the change starts at zero, as in LoRA) and ``A`` drawn from
  ``N(0, 1/m)`` with the key ``PRNGKey(seed)`` folded with the leaf's index.
* Every other leaf (biases...) is coded by ``rest`` (default: a spike-and-slab quantizer of
  the change, for which an unchanged value costs a fraction of a bit).
* ``hard`` computes the product from the integer bins, ``float32(K_A K_B) * (s_A s_B)`` with
  an exact integer matmul, so the decoder (`mdl.codec.leaves.low_rank_product`) gets the
  same bits on any machine; ``apply`` (training) uses the straight-through quantized factors'
  float product.

References:
  E. J. Hu et al., "LoRA: Low-rank adaptation of large language models", ICLR 2022;
  S. K. Esser et al., "Learned step size quantization", ICLR 2020 (the factors' quantizer).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from mdl.codec.leaves import LowRankLeaf, QuantizedLeaf
from mdl.compress.base import (
    LEARNED,
    Compressor,
    Selection,
    check_finite_params,
    check_key,
    leaves_with_paths,
    map_leaves,
    selected_paths,
)
from mdl.compress.quantize import quantizer, step_values

# Integer products of bins must stay exact in float32 (below 2^24) for ``hard`` and the decoder
# to agree; a trained factor's bins are a few hundred at most.
MAX_EXACT_PRODUCT = 1 << 24


def _matrix(shape) -> tuple[int, int]:
    return math.prod(shape[:-1]), shape[-1]


def lora(
    rank: int,
    select: Selection = None,
    *,
    prior: str = "spike_laplace",
    rest: Compressor | None = None,
    seed: int = 0,
) -> Compressor:
    r"""A quantized low-rank change of the selected leaves (module doc); use inside `delta`.

    The code length is the factors' quantizer bits (bins under learned priors, plus 32 bits
    per step and prior parameter of each factor) plus ``rest``'s bits for the other leaves:
    the length of ``finalize``'s file less its fixed header.

    Args:
      rank: the factors' inner dimension $r$ (per leaf at most ``min(m, n)``).
      select: which leaves get a low-rank change (regex on the path, predicate, or None for
        every leaf with ``ndim >= 2``).
      prior: the factors' prior (`mdl.compress.quantizer`'s ``prior``).
      rest: the compressor of every other leaf's change (default: a spike-and-slab quantizer
        of all of them).
      seed: the seed of the left factors' initial draw.

    Returns:
      A `Compressor` whose state is ``{"factors": {path: {"a", "b"}}, "quant": the factors'
      quantizer state, "rest": rest's state}``.

    Raises:
      ValueError: for a rank that is not a positive integer, and (from ``init``) a selected
        leaf with fewer than two axes or a selection that matches nothing.
    """
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise ValueError(f"rank must be a positive integer; got {rank!r}")
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    factor_quantizer = quantizer(lambda path, w: True, prior=prior)
    rest = rest if rest is not None else quantizer(lambda path, w: True, prior="spike_laplace")
    if not isinstance(rest, Compressor):
        raise TypeError(f"rest must be a Compressor; got {type(rest).__name__}")

    def split(params, factors):
        """(the selected paths' shapes, the other leaves as a ``{path: leaf}`` dict)."""
        shapes = {}
        others = {}
        for path, w in leaves_with_paths(params):
            if path in factors:
                shapes[path] = np.shape(w)
            else:
                others[path] = w
        return shapes, others

    def init(params, key=None):
        del key  # the factors' draw is the documented seed's, so init is reproducible
        check_finite_params(params)
        leaves = dict(leaves_with_paths(params))
        factors = {}
        for index, path in enumerate(selected_paths(params, select)):
            shape = np.shape(leaves[path])
            if len(shape) < 2:
                raise ValueError(
                    f"lora changes matrices and kernels; leaf {path!r} has shape {shape} "
                    "(leave it to rest, e.g. select='kernel')"
                )
            m, n = _matrix(shape)
            r = min(rank, m, n)
            draw = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(seed), index), (m, r))
            factors[path] = {
                "a": (draw / math.sqrt(m)).astype(jnp.float32),
                "b": jnp.zeros((r, n), jnp.float32),
            }
        _, others = split(params, factors)
        return {
            "factors": factors,
            "quant": factor_quantizer.init(factors),
            "rest": rest.init(others) if others else {},
        }

    def with_others(params, factors, change, others_out):
        return map_leaves(
            params, lambda path, w: change[path] if path in factors else others_out[path]
        )

    def apply(params, cstate, key):
        check_key(key)
        factors = cstate["factors"]
        _, others = split(params, factors)
        quantized = factor_quantizer.apply(factors, cstate["quant"], jax.random.fold_in(key, 0))
        change = {
            path: jnp.reshape(f["a"] @ f["b"], np.shape(w))
            for path, w in leaves_with_paths(params)
            if path in factors
            for f in (quantized[path],)
        }
        out = rest.apply(others, cstate["rest"], jax.random.fold_in(key, 1)) if others else {}
        return with_others(params, factors, change, out)

    @jax.jit
    def exact_product(hard_a, hard_b, step_a, step_b):
        # The bins from the quantizer's own hard weights (k s / s rounds back to k exactly),
        # an integer matmul, and one float32 multiply: the decoder's low_rank_product.
        bins_a = jnp.round(hard_a / step_a).astype(jnp.int32)
        bins_b = jnp.round(hard_b / step_b).astype(jnp.int32)
        product = jnp.matmul(bins_a, bins_b, preferred_element_type=jnp.int32)
        return product.astype(jnp.float32) * (step_a * step_b)

    def hard(params, cstate):
        factors = cstate["factors"]
        _, others = split(params, factors)
        hard_factors = factor_quantizer.hard(factors, cstate["quant"])
        change = {}
        for path, w in leaves_with_paths(params):
            if path in factors:
                # The steps as the file stores them (the quantizer's finalize computes them
                # the same way, outside any fused program: an exp inside a fusion can round
                # differently by an ulp, and the product would then differ from the file's).
                steps = [
                    step_values(cstate["quant"][f"{path}/{side}"].log_step, False)
                    for side in ("a", "b")
                ]
                product = exact_product(hard_factors[path]["a"], hard_factors[path]["b"], *steps)
                change[path] = jnp.reshape(product, np.shape(w))
        out = rest.hard(others, cstate["rest"]) if others else {}
        return with_others(params, factors, change, out)

    def bits(params, cstate):
        factors = cstate["factors"]
        _, others = split(params, factors)
        total = factor_quantizer.bits(factors, cstate["quant"])
        return total + (rest.bits(others, cstate["rest"]) if others else 0.0)

    def finalize(params, cstate):
        check_finite_params(params)
        factors = cstate["factors"]
        shapes, others = split(params, factors)
        coded = factor_quantizer.finalize(factors, cstate["quant"])
        out = rest.finalize(others, cstate["rest"]) if others else {}
        leaves = {}
        for path, _ in leaves_with_paths(params):
            if path not in factors:
                leaves[path] = out[path]
                continue
            left, right = coded[f"{path}/a"], coded[f"{path}/b"]
            if not (isinstance(left, QuantizedLeaf) and isinstance(right, QuantizedLeaf)):
                raise TypeError(f"the factors of {path!r} must finalize to QuantizedLeaf")
            largest = np.abs(left.symbols).sum(axis=1).max() * np.abs(right.symbols).max()
            if largest >= MAX_EXACT_PRODUCT:
                raise ValueError(
                    f"the factors of {path!r} hold bins whose products reach {largest}; "
                    f"exact float32 products need them below {MAX_EXACT_PRODUCT}"
                )
            leaves[path] = LowRankLeaf(left, right, tuple(shapes[path]))
        return leaves

    def advance(cstate):
        if not cstate["rest"]:
            return cstate
        return {**cstate, "rest": rest.advance(cstate["rest"])}

    def labels(cstate):
        learned = jax.tree.map(lambda _: LEARNED, {k: cstate[k] for k in ("factors", "quant")})
        return {**learned, "rest": rest.labels(cstate["rest"]) if cstate["rest"] else {}}

    return Compressor(init, apply, hard, bits, finalize, advance, labels)
