"""Universal codes for the positive integers, and other code lengths of discrete choices.

A universal code describes an integer ``n >= 1`` with no upper bound agreed in advance, with a
length that grows like ``log2 n``. They price the discrete parts of a description (layer widths,
the number of nonzero weights, the index of a hyperparameter on a grid). Each code here is
prefix-free, so its lengths satisfy Kraft's inequality ``sum_n 2^-L(n) <= 1``.

All functions are elementwise, jit-compatible and return float code lengths in bits. Integer
arguments use JAX's default integer width (int32 unless ``jax_enable_x64`` is on).

References:
  P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans. Inf.
  Theory, 1975. J. Rissanen, "A universal prior for integers and estimation by minimum
  description length", Annals of Statistics, 1983.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betaln

from mdl.validation import check_integer_array, check_positive

# c = sum_{n>=1} 2^-log*(n), so that 2^-(log2 c + log*(n)) is a probability distribution
# (Rissanen 1983, eq. 2.7). The series converges too slowly to sum here; 2.865064 is his value.
LOG_STAR_NORMALIZER = 2.865064
r"""Rissanen's normalizing constant $c = \sum_{n \ge 1} 2^{-\log^* n} \approx 2.865064$:
$\log_2 c + \log^* n$ bits is a prefix code length (Rissanen 1983, eq. 2.7)."""


def _positive_ints(n, name: str = "n") -> jax.Array:
    values = check_integer_array(n, name, minimum=1)
    if values is None:  # traced: the caller vouches for n >= 1
        return n
    dtype = jax.dtypes.canonicalize_dtype(jnp.int_)  # int32 unless x64 is enabled
    limit = jnp.iinfo(dtype).max
    if values.size and values.max() > limit:
        raise ValueError(
            f"{name} must be <= {limit} with JAX's default integers; got {values.max().item()}. "
            "Enable 64-bit integers with jax.config.update('jax_enable_x64', True)."
        )
    return jnp.asarray(values, dtype=dtype)


def bit_length(n) -> jax.Array:
    """Number of binary digits of ``n >= 1``: ``floor(log2 n) + 1``, computed exactly."""
    n = jnp.asarray(n)
    return jnp.iinfo(n.dtype).bits - jax.lax.clz(n)


def elias_gamma_bits(n) -> jax.Array:
    r"""Elias gamma code length of integers $n \ge 1$, in bits.

    $L(n) = 2 \lfloor \log_2 n \rfloor + 1$: the binary digits of $n$ preceded by one zero
    fewer than their count. `mdl.codec.encode_elias_gamma` writes these codewords.

    Args:
      n: integers $\ge 1$, any shape.

    Returns:
      Bits per integer (float32), the shape of ``n``.

    References:
      P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
      Inf. Theory, 1975.
    """
    n = _positive_ints(n)
    return (2 * bit_length(n) - 1).astype(jnp.float32)


def elias_delta_bits(n) -> jax.Array:
    r"""Elias delta code length of integers $n \ge 1$, in bits.

    $L(n) = \lfloor \log_2 n \rfloor + 2 \lfloor \log_2(\lfloor \log_2 n \rfloor + 1) \rfloor + 1$:
    the length of $n$'s binary digits in Elias gamma, then those digits without the leading 1.
    `mdl.codec.encode_elias_delta` writes these codewords.

    Args:
      n: integers $\ge 1$, any shape.

    Returns:
      Bits per integer (float32), the shape of ``n``.

    References:
      P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
      Inf. Theory, 1975.
    """
    n = _positive_ints(n)
    length = bit_length(n)
    return (length + 2 * bit_length(length) - 2).astype(jnp.float32)


def elias_omega_bits(n) -> jax.Array:
    r"""Elias omega (recursive) code length of integers $n \ge 1$, in bits.

    $n$ is written in binary, preceded by its length minus one written the same way, and so on
    down to 1, then a terminating 0: $L(n) = 1 + \sum_i \operatorname{bit\_length}(k_i)$ over
    the chain $k_0 = n$, $k_{i+1} = \operatorname{bit\_length}(k_i) - 1$ while $k_i > 1$.
    `mdl.codec.encode_elias_omega` writes these codewords.

    Args:
      n: integers $\ge 1$, any shape.

    Returns:
      Bits per integer (float32), the shape of ``n``.

    References:
      P. Elias, "Universal codeword sets and representations of the integers", IEEE Trans.
      Inf. Theory, 1975.
    """
    n = _positive_ints(n)
    total = jnp.ones_like(n)
    k = n
    # The chain shrinks doubly exponentially: 6 steps cover every 64-bit integer.
    for _ in range(6):
        length = bit_length(k)
        total = total + jnp.where(k > 1, length, 0)
        k = jnp.where(k > 1, length - 1, k)
    return total.astype(jnp.float32)


def log_star(n) -> jax.Array:
    """Iterated logarithm ``log2 n + log2 log2 n + ...`` over its positive terms."""
    x = jnp.asarray(n, dtype=jnp.result_type(float))
    total = jnp.zeros_like(x)
    for _ in range(6):  # log2 applied 6 times brings any float64 below 1
        x = jnp.where(x > 1, jnp.log2(jnp.maximum(x, 1.0)), 0.0)
        total = total + x
    return total


def log_star_bits(n) -> jax.Array:
    r"""Rissanen's universal code length of integers $n \ge 1$, in bits.

    $L(n) = \log_2 c + \log^* n$, where $\log^* n = \log_2 n + \log_2 \log_2 n + \cdots$
    over its positive terms and $c = 2.865064$ (`LOG_STAR_NORMALIZER`). Including
    $\log_2 c$ makes $2^{-L(n)}$ sum to one over $n \ge 1$: it is a proper code, not just a
    growth rate, so it can be added to other code lengths.

    Args:
      n: integers $\ge 1$, any shape.

    Returns:
      Bits per integer, the shape of ``n``.

    References:
      J. Rissanen, "A universal prior for integers and estimation by minimum description
      length", Annals of Statistics, 1983.
    """
    n = _positive_ints(n)
    return math.log2(LOG_STAR_NORMALIZER) + log_star(n)


def log2_binomial(n, k) -> jax.Array:
    r"""The code length of a choice of $k$ positions among $n$, in bits.

    $L = \log_2 \binom{n}{k}$, computed as
    $(-\ln(n + 1) - \ln B(n - k + 1, k + 1)) / \ln 2$: the log-beta function avoids the
    cancellation of three large log-gammas, so the result is accurate to the working precision
    relative to itself (about 1e-7 in float32), not to $\ln \Gamma(n)$.

    Args:
      n: integers $\ge 0$.
      k: integers with $0 \le k \le n$ (broadcast with ``n``).

    Returns:
      Bits, the broadcast shape.

    References:
      T. M. Cover, "Enumerative source encoding", IEEE Trans. Inf. Theory, 1973.
    """
    n_values = check_integer_array(n, "n", minimum=0)
    k_values = check_integer_array(k, "k", minimum=0)
    if n_values is not None and k_values is not None and np.any(k_values > n_values):
        raise ValueError("k must be <= n for log2_binomial(n, k)")
    dtype = jnp.result_type(float)
    n = jnp.asarray(n, dtype=dtype)
    k = jnp.asarray(k, dtype=dtype)
    nats = -jnp.log(n + 1) - betaln(n - k + 1, k + 1)
    return jnp.maximum(nats, 0.0) / math.log(2)


def uniform_bits(num_symbols) -> jax.Array:
    r"""The code length of one of $K$ equally likely symbols, in bits.

    $L = \log_2 K$.

    Args:
      num_symbols: $K \ge 1$, any shape.

    Returns:
      Bits, the shape of ``num_symbols``.

    References:
      R. V. L. Hartley, "Transmission of information", Bell System Technical Journal, 1928.
    """
    check_integer_array(num_symbols, "num_symbols", minimum=1)
    check_positive(num_symbols, "num_symbols")
    return jnp.log2(jnp.asarray(num_symbols, dtype=jnp.result_type(float)))
