"""Targets given a model's outputs, as files: ``L(D | params)`` made real for every data code.

`encode_targets` writes the targets of a `DataCode` to bytes
given the model's ``outputs`` (what ``code.bits`` takes), and `decode_targets` reads them
back given the same outputs; the decoder computes every probability table from the outputs
alone, with the same float64 operations on the same arrays as the encoder, so the tables agree
to the bit. The estimate ``L = sum code.bits(outputs, targets)`` is what the training loss and
the estimators use; the file is that number made real:

=================  ====  ===================================================================
code               kind  what its one rANS stream holds
=================  ====  ===================================================================
categorical        LABL  each label under ``softmax(logits_i)`` (the file of
                         `encode_labels`, byte for byte)
bernoulli          BERN  each binary label under ``[1 - sigmoid(x), sigmoid(x)]``, row-major
next_token         NTOK  where the padding is (below), then the real tokens, row-major, each
                         under the softmax of its position's logits
discretized_*      DISC  each value's bin by bisection (below)
=================  ====  ===================================================================

**Padding** (next_token). The decoder knows the outputs ``[n, T, V]`` but not which positions
are padding (``PADDING``, -1), so the file says, in the cheapest of four ways: nothing when
no position is padded; nothing either when every sequence is real tokens then padding and ends
with one end token found nowhere else among the real tokens (strings framed by a boundary
symbol, ``#aabb#``: the header names the token, and the decoder reads each sequence until it
decodes it, so the model's own prediction of the end is the only length code); each
sequence's length under a uniform code over ``0..T`` when every sequence is real tokens then
padding, ``n log2(T + 1)`` bits; or the mask itself, each position real with probability
``k / N`` (``k`` real of ``N``; ``k`` is in the header), ``N h(k / N)`` bits. `side_bits` is
that number; no data code's estimate counts it.

**Bins** (discretized codes at bin width ``w``). A value ``y`` is coded as its bin
``k = rint(y / w)``, the bin ``[(k - 1/2) w, (k + 1/2) w]`` centred on ``k w``, so the file
reproduces the data at resolution ``w``: `decode_targets` returns the centres ``k w``
(float64), each within ``w / 2`` of its value. The header holds the data's window
``[min k, max k]``. Each bin is coded as a path of decisions under the model's distribution
``F``: first whether ``k`` lies below, inside or above the window (the window's mass is coded,
never assumed: no renormalization), then, interval by interval, which half of
``[a, b]`` holds ``k`` with probability ``P[a, mid] / (P[a, mid] + P[mid + 1, b])``, down to a
single bin. The probabilities telescope to ``P(bin k)``, the mass ``code.bits`` charges for a
value at the bin's centre (values off the grid are charged at the centre of their bin), with
``log2(max k - min k + 1) + 1`` decisions a value, each a binary symbol of the coder: no table
over bins is ever made, however fine ``w`` or wide the data, and no probability needs more
than the coder's 24 bits. Masses come from `mdl.codes.continuous.log_interval_mass`
evaluated in float64 (the routine the estimate uses).

**The bound.** With ``F = 8 len(file)``, ``H`` the file's framing and metadata (the container's
224 bits, a few varints and a CRC-32 of the targets: about 330 bits in all;
`mdl.testing.target_file_header_bits`) and ``S`` = `side_bits`,

    L + S + H - 64 - E - L / 1000  <=  F  <=  L + S + H + 96 + L / 1000 + 1.

The 96 bits are the rANS stream's 32-bit sentinel and at most two words of final state, of
which 64 may carry no information; the 24-bit probabilities cost less than 0.1% of ``L`` (and
at most ``(K - 1) 2^-24 / ln 2`` bits per symbol of a ``K``-symbol table, the floor every
symbol keeps: the ``+ 1``). ``E`` is what that floor can take off: a target the model gives
probability below about ``2^-20`` costs at most about 24 bits in the file, whatever its
estimate, so ``E = sum_i max(0, -log2 p_i - 20)`` (`mdl.testing.CODER_FLOOR_BITS`).
`mdl.testing.assert_target_file_is_estimate` checks it.

Corrupt or truncated bytes, a forged header and outputs other than the encoder's raise
`CodecError`: the container's CRC-32, header fields checked against
the outputs before anything is decoded, and a CRC-32 of the decoded targets.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import expit, log_expit

from mdl.codec import container, rans
from mdl.codec.errors import CodecError
from mdl.codec.stream import checksum, decode_labels, encode_labels
from mdl.codes.continuous import GAUSSIAN, LOGISTIC, Standardized, log_interval_mass
from mdl.codes.data_codes import PADDING, DataCode

__all__ = [
    "TARGET_CODECS",
    "TargetCodec",
    "bin_centres",
    "coded_targets",
    "decode_targets",
    "discretize",
    "encode_targets",
    "ideal_bits",
    "row_bits",
    "side_bits",
    "softmax_rows",
    "target_bits",
]

_CRC = struct.Struct("<I")
_LN2 = math.log(2)
MAX_BIN = 1 << 50  # |k| <= 2^50: bin edges k +- 1/2 and centres k w stay exact in float64


class TargetCodec(NamedTuple):
    """How one data code's targets become a file (`TARGET_CODECS` holds one per code).

    Attributes:
      encode: ``(code, outputs, targets) -> bytes``.
      decode: ``(code, outputs, data) -> targets`` (`coded_targets` of the encoded ones).
      bits: ``(code, outputs, targets) -> [m]`` float64 ``-log2 p`` of every coded target
        under the tables the coder uses (`target_bits`).
      side: ``targets -> bits`` the file spends on side information (`side_bits`).
    """

    encode: Callable[[DataCode, np.ndarray, np.ndarray], bytes]
    decode: Callable[[DataCode, np.ndarray, bytes], np.ndarray]
    bits: Callable[[DataCode, np.ndarray, np.ndarray], np.ndarray]
    side: Callable[[np.ndarray], float] = lambda targets: 0.0


def _codec(code: DataCode) -> TargetCodec:
    if not isinstance(code, DataCode):
        raise TypeError(f"code must be a DataCode (mdl.codes.data_codes); got {type(code)}")
    if code.name not in TARGET_CODECS:
        raise ValueError(
            f"no target file for data code {code.name!r}; known: {', '.join(TARGET_CODECS)}"
        )
    return TARGET_CODECS[code.name]


def _outputs(outputs, min_ndim: int, what: str) -> np.ndarray:
    values = np.asarray(outputs)
    if values.dtype.kind not in "iuf" or values.ndim < min_ndim:
        raise ValueError(
            f"outputs must be real {what}; got dtype {values.dtype} and shape {values.shape}"
        )
    return values


def _checked(code: DataCode, outputs, targets) -> tuple[np.ndarray, np.ndarray]:
    """``(outputs, targets)`` as numpy after ``code.check`` and a matching leading axis."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if outputs.ndim < 1 or targets.ndim < 1 or outputs.shape[0] != targets.shape[0]:
        raise ValueError(
            f"outputs and targets must share their leading (example) axis; got outputs "
            f"{outputs.shape} and targets {targets.shape}"
        )
    code.check(targets, outputs.shape[1:])
    return outputs, targets


def encode_targets(code: DataCode, outputs, targets) -> bytes:
    r"""The file of ``targets`` given ``outputs`` under data code ``code`` (see the module doc).

    $L(D \mid \text{params})$ made real: ``8 * len(bytes)`` is
    $L = \sum_i -\log_2 p(y_i \mid \text{outputs}_i)$ bits (the sum of
    ``code.bits(outputs, targets)``), plus `side_bits` plus the header and the coder's
    overhead, within the bound stated in the module doc.

    Args:
      code: the `DataCode` (categorical, bernoulli, next_token or discretized_*).
      outputs: the model's outputs, what ``code.bits`` takes.
      targets: the targets, what ``code.bits`` takes.

    Returns:
      The file's bytes; `decode_targets` reads them back given the same outputs.

    References:
      J. Rissanen, "Modeling by shortest data description", Automatica, 1978 (the data part
      of a two-part code); J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    codec = _codec(code)
    outputs, targets = _checked(code, outputs, targets)
    return codec.encode(code, outputs, targets)


def decode_targets(code: DataCode, outputs, data: bytes) -> np.ndarray:
    """Inverse of `encode_targets` given the same ``code`` and ``outputs``.

    Args:
      code: the encoder's `DataCode`.
      outputs: the encoder's model outputs.
      data: the bytes of `encode_targets`.

    Returns:
      `coded_targets` of the encoded targets: int64 labels or tokens with -1 padding, or
      float64 bin centres $k w$ (each within $w / 2$ of its value, $w$ the bin width).

    Raises:
      CodecError: for corrupt, truncated or forged bytes and for outputs other than the
        encoder's.

    References:
      J. Duda, "Asymmetric numeral systems", 2013 (rANS).
    """
    return _codec(code).decode(code, np.asarray(outputs), bytes(data))


def target_bits(code: DataCode, outputs, targets) -> np.ndarray:
    """``-log2 p`` (float64) of every coded target under the file's tables: one a label, binary
    label, real token (row-major) or value (at its bin's centre). Their sum plus
    `side_bits` is the file's ideal length; each agrees with ``code.bits`` to float32
    rounding (bin centres aside)."""
    codec = _codec(code)
    outputs, targets = _checked(code, outputs, targets)
    return codec.bits(code, outputs, targets)


def ideal_bits(code: DataCode, outputs, targets) -> float:
    """``sum target_bits + side_bits``: the file's length less its header and coder state."""
    return float(np.sum(target_bits(code, outputs, targets))) + side_bits(code, targets)


def side_bits(code: DataCode, targets) -> float:
    """Bits the file spends on what the outputs cannot tell the decoder and ``code.bits`` does
    not count: the padding of next-token targets (module doc); 0 for the other codes."""
    return float(_codec(code).side(np.asarray(targets)))


def coded_targets(code: DataCode, targets) -> np.ndarray:
    """What `decode_targets` gives back for ``targets``: the targets themselves (int64),
    or for the discretized codes their bin centres (float64, resolution ``bin_width``)."""
    if code.name.startswith("discretized_"):
        return bin_centres(code, discretize(code, targets))
    return np.asarray(targets).astype(np.int64)


# --- Rows of probabilities -----------------------------------------------------------------


def softmax_rows(logits) -> np.ndarray:
    """``softmax(logits)`` over the last axis in float64, by the operations of
    `mdl.inference.predictive_probs` (so the same logits give the same bits)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def row_bits(probs, symbols) -> np.ndarray:
    """``-log2 probs[i, s_i]`` per row in float64 (probabilities floored at 1e-300)."""
    symbols = np.asarray(symbols)
    picked = np.asarray(probs, np.float64)[np.arange(len(symbols)), symbols]
    return -np.log2(np.maximum(picked, 1e-300))


def _bins_checksum(bins: np.ndarray) -> int:
    """CRC-32 of bins as int64 (any sign, any magnitude up to 2^50)."""
    return zlib.crc32(np.ascontiguousarray(bins, "<i8"))


def _meta(payload: bytes, count: int, what: str) -> tuple[list[int], int]:
    """``count`` varints then a CRC-32, exactly: (values, crc)."""
    values, at = container.read_varints(payload, count)
    if len(payload) != at + _CRC.size:
        raise CodecError(f"{what} metadata has the wrong length")
    return values, _CRC.unpack_from(payload, at)[0]


def _expect(found: list[int], expected: list[int], what: str) -> None:
    if found != expected:
        raise CodecError(
            f"the file holds {what} {found}; the outputs given have {expected}: not the "
            "encoder's outputs"
        )


# --- Categorical and Bernoulli: one row per target -------------------------------------------


def _categorical_encode(code, logits, labels) -> bytes:
    return encode_labels(softmax_rows(logits), labels)


def _categorical_decode(code, logits, data) -> np.ndarray:
    return decode_labels(softmax_rows(_outputs(logits, 2, "logits [n, K]")), data)


def _categorical_bits(code, logits, labels) -> np.ndarray:
    return row_bits(softmax_rows(logits), labels)


def _bernoulli_rows(logits) -> np.ndarray:
    # [p(0), p(1)] each computed directly (not 1 - p), so neither underflows to a wrong value.
    x = np.asarray(logits, np.float64).reshape(-1)
    return np.stack([expit(-x), expit(x)], axis=-1)


def _bernoulli_encode(code, logits, targets) -> bytes:
    bits = np.asarray(targets).reshape(-1).astype(np.int64)
    return encode_labels(_bernoulli_rows(logits), bits, kind="BERN")


def _bernoulli_decode(code, logits, data) -> np.ndarray:
    logits = _outputs(logits, 2, "logits [n, M]")
    return decode_labels(_bernoulli_rows(logits), data, kind="BERN").reshape(logits.shape)


def _bernoulli_bits(code, logits, targets) -> np.ndarray:
    x = np.asarray(logits, np.float64).reshape(-1)
    sign = np.where(np.asarray(targets).reshape(-1) > 0.5, 1.0, -1.0)
    return -log_expit(sign * x) / _LN2


# --- Next token: padding, then the real tokens -----------------------------------------------

_NONE, _LENGTHS, _MASK, _END = 0, 1, 2, 3  # how a next-token file says where the padding is


def _end_token(tokens: np.ndarray, lengths: np.ndarray) -> int | None:
    """The token every sequence ends with and no sequence holds earlier, or None."""
    if not lengths.size or lengths.min() < 1:
        return None
    last = tokens[np.arange(len(tokens)), lengths - 1]
    if np.any(last != last[0]):
        return None
    end = int(last[0])
    return end if int(np.sum(tokens == end)) == len(tokens) else None


def _padding(tokens: np.ndarray) -> tuple[int, float, int | None]:
    """The cheapest way to code where ``tokens [n, T]`` are padding: (mode, ideal bits, the
    end token of mode ``_END`` or None)."""
    valid = tokens != PADDING
    n, steps = valid.shape
    total, real = valid.size, int(valid.sum())
    if real == total:
        return _NONE, 0.0, None
    q = real / total
    mask_bits = -total * sum(p * math.log2(p) for p in (q, 1 - q) if p > 0)
    lengths = valid.sum(axis=1)
    prefix = np.array_equal(valid, np.arange(steps) < lengths[:, None])
    end = _end_token(tokens, lengths) if prefix else None
    if end is not None:
        return _END, 0.0, end
    if prefix and steps + 1 <= rans.MAX_ALPHABET and n * math.log2(steps + 1) <= mask_bits:
        return _LENGTHS, n * math.log2(steps + 1), None
    return _MASK, mask_bits, None


def _next_token_side(targets) -> float:
    return _padding(np.asarray(targets))[1]


def _padding_segment(mode: int, steps: int, total: int, real: int):
    """The table of the padding segment: lengths under a uniform code over ``0..steps``, or
    mask flags (1 = real) under ``[1 - real/total, real/total]``."""
    if mode == _LENGTHS:
        return rans.vector_table(np.full(steps + 1, 1.0 / (steps + 1)))
    return rans.vector_table(np.array([total - real, real], np.float64) / total)


def _next_token_encode(code, logits, tokens) -> bytes:
    n, steps, vocab = logits.shape
    valid = tokens != PADDING
    mode, _, end = _padding(tokens)
    real = int(valid.sum())
    symbols = tokens[valid].astype(np.int32)
    segments = []
    if mode == _LENGTHS:
        segments.append((valid.sum(axis=1), _padding_segment(mode, steps, tokens.size, real)))
    elif mode == _MASK:
        segments.append((valid.reshape(-1), _padding_segment(mode, steps, tokens.size, real)))
    segments.append((symbols, rans.Rows(softmax_rows(logits[valid]), "softmax(logits)")))
    header = [n, steps, mode, real] + ([end] if mode == _END else [])
    meta = container.varints(header) + _CRC.pack(checksum(symbols, vocab))
    return container.pack("NTOK", {"META": meta, "RANS": rans.encode(segments)})


def _pop_until_end(reader, probs: np.ndarray, end: int, real: int) -> tuple[np.ndarray, list]:
    """Mode ``_END``: each sequence's tokens, one at a time under its rows ``probs [n, T, V]``,
    up to and including ``end``; (the validity mask, the tokens in order). A sequence that
    does not end within ``T`` positions, or more tokens than the header's ``real``, is a
    `CodecError`."""
    n, steps, _ = probs.shape
    valid = np.zeros((n, steps), bool)
    symbols = []
    for i in range(n):
        for t in range(steps):
            if len(symbols) == real:
                raise CodecError("the decoded sequences hold more tokens than the header says")
            symbol = int(reader.pop(rans.Rows(probs[i, t : t + 1], "softmax(logits)"), 1)[0])
            symbols.append(symbol)
            valid[i, t] = True
            if symbol == end:
                break
        else:
            raise CodecError(f"sequence {i} does not end with token {end} within {steps} steps")
    return valid, symbols


def _next_token_decode(code, logits, data) -> np.ndarray:
    logits = _outputs(logits, 3, "logits [n, T, V]")
    if logits.ndim != 3:
        raise ValueError(f"next_token outputs must be logits [n, T, V]; got {logits.shape}")
    n, steps, vocab = logits.shape
    meta, words = container.require(container.unpack(data, "NTOK"), "META", "RANS")
    mode_field = container.read_varints(meta, 3)[0][2] if meta else None
    header, crc = _meta(meta, 5 if mode_field == _END else 4, "next-token")
    n_file, steps_file, mode, real = header[:4]
    _expect([n_file, steps_file], [n, steps], "sequences [n, T]")
    if mode not in (_NONE, _LENGTHS, _MASK, _END) or not 0 <= real <= n * steps:
        raise CodecError(
            f"next-token header: padding mode {mode}, {real} real tokens of {n * steps}"
        )
    if mode == _NONE and real != n * steps:
        raise CodecError("next-token header: no padding declared, yet fewer real tokens")
    reader = rans.Reader(words)
    if mode == _END:
        end = header[4]
        if end >= vocab:
            raise CodecError(f"next-token header: end token {end} outside the {vocab} tokens")
        valid, popped = _pop_until_end(reader, softmax_rows(logits), end, real)
        if len(popped) != real:
            raise CodecError("the decoded sequences hold fewer tokens than the header says")
        symbols = np.asarray(popped, np.int32)
    else:
        if mode == _NONE:
            valid = np.ones((n, steps), bool)
        else:
            table = _padding_segment(mode, steps, n * steps, real)
            if mode == _LENGTHS:
                valid = np.arange(steps) < reader.pop(table, n)[:, None]
            else:
                valid = reader.pop(table, n * steps).reshape(n, steps).astype(bool)
            if int(valid.sum()) != real:
                raise CodecError("the decoded padding does not hold the declared number of tokens")
        symbols = reader.pop(rans.Rows(softmax_rows(logits[valid]), "softmax(logits)"), real)
    reader.finish()
    if checksum(symbols, vocab) != crc:
        raise CodecError("decoded tokens fail their checksum: the logits differ from the encoder's")
    tokens = np.full((n, steps), PADDING, np.int64)
    tokens[valid] = symbols
    return tokens


def _next_token_bits(code, logits, tokens) -> np.ndarray:
    valid = tokens != PADDING
    return row_bits(softmax_rows(logits[valid]), tokens[valid])


# --- Discretized: bins by bisection ------------------------------------------------------------

_DISTRIBUTIONS = {"discretized_gaussian": GAUSSIAN, "discretized_logistic": LOGISTIC}


def _bin_width(code: DataCode) -> float:
    return float(dict(code.options)["bin_width"])


def discretize(code: DataCode, targets) -> np.ndarray:
    """The bins ``k = rint(y / bin_width)`` (int64) of a discretized code's targets; ValueError
    for values that are not finite or lie beyond ``2^50`` bins."""
    values = np.asarray(targets, np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"the {code.name} code needs finite targets")
    bins = np.rint(values / _bin_width(code))
    if bins.size and np.abs(bins).max() > MAX_BIN:
        raise ValueError(
            f"targets reach {np.abs(values).max():.3g}, beyond 2^50 bins of width "
            f"{_bin_width(code)}: choose a larger bin_width"
        )
    return bins.astype(np.int64)


def bin_centres(code: DataCode, bins) -> np.ndarray:
    """``k * bin_width`` in float64: what a discretized code's file gives back."""
    return np.asarray(bins, np.int64) * _bin_width(code)


def _pad(size: int) -> int:
    # A power-of-two length: levels of similar size share one compiled program.
    return 1 << max(size - 1, 1).bit_length()


@partial(jax.jit, static_argnums=0)
def _interval_log_masses(dist: Standardized, mean, inv_scale, width, lo, hi):
    """``log P[lo, hi]`` (bins, inclusive) under ``dist(mean, 1 / inv_scale)``, by the centre
    and half width of the interval in standard units."""
    center = ((lo + hi) * 0.5 * width - mean) * inv_scale
    half = (hi - lo + 1) * 0.5 * width * inv_scale
    return log_interval_mass(dist, center, half)


@partial(jax.jit, static_argnums=0)
def _root_log_masses(dist: Standardized, mean, inv_scale, width, lo, hi):
    """``log`` of the masses below, inside and above the window ``[lo, hi]``, ``[m, 3]``."""
    below = dist.log_cdf(((lo - 0.5) * width - mean) * inv_scale)
    above = dist.log_cdf(-((hi + 0.5) * width - mean) * inv_scale)
    inside = _interval_log_masses(dist, mean, inv_scale, width, lo, hi)
    return jnp.stack([below, inside, above], axis=-1)


def _rows(log_masses: np.ndarray) -> np.ndarray:
    """Rows proportional to ``exp(log_masses)``; a row with no finite mass (outputs far beyond
    float64) is uniform, so every row the coder sees is a distribution."""
    top = log_masses.max(axis=-1, keepdims=True)
    finite = np.isfinite(top)
    p = np.where(finite, np.exp(log_masses - np.where(finite, top, 0.0)), 1.0)
    p = np.where(np.isfinite(p), p, 0.0)
    return p / p.sum(axis=-1, keepdims=True)


class _Parameters(NamedTuple):
    dist: Standardized
    mean: np.ndarray  # [m] float64
    inv_scale: np.ndarray  # [m] float64
    width: float


def _parameters(code: DataCode, outputs) -> _Parameters:
    outputs = _outputs(outputs, 2, "(mean, log scale) pairs [n, ..., 2]")
    if outputs.shape[-1] != 2:
        raise ValueError(
            f"{code.name} outputs end in (mean, log scale), size 2; got {outputs.shape}"
        )
    pairs = np.asarray(outputs, np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(pairs)):
        raise ValueError(f"{code.name} outputs must be finite")
    return _Parameters(
        _DISTRIBUTIONS[code.name], pairs[:, 0], np.exp(-pairs[:, 1]), _bin_width(code)
    )


def _evaluate(function, params: _Parameters, rows: np.ndarray, lo, hi) -> np.ndarray:
    """``function`` over the parameters of ``rows`` and bins ``lo, hi`` in float64, padded."""
    size = len(rows)
    if not size:
        return np.zeros((0, 3) if function is _root_log_masses else 0)
    padded = _pad(size)

    def pad(values):
        return np.pad(np.asarray(values, np.float64), (0, padded - size), "edge")

    with jax.enable_x64(True):
        values = function(
            params.dist,
            pad(params.mean[rows]),
            pad(params.inv_scale[rows]),
            jnp.float64(params.width),
            pad(lo),
            pad(hi),
        )
        return np.asarray(values, np.float64)[:size]


class _Bisection:
    """The decisions that name every value's bin (module doc), as the decoder meets them: the
    encoder walks the same path, so both build the same tables from the same arrays."""

    def __init__(self, params: _Parameters, lo: int, hi: int):
        self.params, self.lo, self.hi = params, lo, hi
        count = len(params.mean)
        self.a = np.full(count, lo, np.int64)
        self.b = np.full(count, hi, np.int64)

    def root(self) -> rans.Rows:
        """Below, inside or above the window (symbol 1, inside, for every value)."""
        rows = np.arange(len(self.a))
        masses = _evaluate(_root_log_masses, self.params, rows, self.a, self.b)
        return rans.Rows(_rows(masses), "bin masses")

    def level(self) -> tuple[np.ndarray, np.ndarray, rans.Rows]:
        """The values whose interval holds more than one bin, its midpoints, and the rows
        ``[P[a, mid], P[mid + 1, b]]`` (normalized): symbol 1 = the upper half."""
        active = np.flatnonzero(self.a < self.b)
        a, b = self.a[active], self.b[active]
        mid = a + (b - a) // 2
        left = _evaluate(_interval_log_masses, self.params, active, a, mid)
        right = _evaluate(_interval_log_masses, self.params, active, mid + 1, b)
        return active, mid, rans.Rows(_rows(np.stack([left, right], axis=-1)), "bin masses")

    def descend(self, active: np.ndarray, mid: np.ndarray, upper: np.ndarray) -> None:
        upper = upper.astype(bool)
        self.a[active] = np.where(upper, mid + 1, self.a[active])
        self.b[active] = np.where(upper, self.b[active], mid)


def _discretized_encode(code, outputs, targets) -> bytes:
    params = _parameters(code, outputs)
    bins = discretize(code, targets).reshape(-1)
    lo, hi = (int(bins.min()), int(bins.max())) if bins.size else (0, 0)
    walk = _Bisection(params, lo, hi)
    segments = [(np.ones(bins.size, np.int32), walk.root())]
    while True:
        active, mid, rows = walk.level()
        if not active.size:
            break
        upper = (bins[active] > mid).astype(np.int32)
        segments.append((upper, rows))
        walk.descend(active, mid, upper)
    meta = container.varints([bins.size, lo, hi]) + _CRC.pack(_bins_checksum(bins))
    return container.pack("DISC", {"META": meta, "RANS": rans.encode(segments)})


def _discretized_decode(code, outputs, data) -> np.ndarray:
    params = _parameters(code, outputs)
    meta, words = container.require(container.unpack(data, "DISC"), "META", "RANS")
    (count, lo, hi), crc = _meta(meta, 3, "discretized")
    _expect([count], [len(params.mean)], "values")
    if not -MAX_BIN <= lo <= hi <= MAX_BIN:
        raise CodecError(f"discretized header: window [{lo}, {hi}] is not within +-2^50 bins")
    walk = _Bisection(params, lo, hi)
    reader = rans.Reader(words)
    if not np.all(reader.pop(walk.root(), count) == 1):
        raise CodecError("a value decodes outside the window the header declares")
    while True:
        active, mid, rows = walk.level()
        if not active.size:
            break
        walk.descend(active, mid, reader.pop(rows, active.size))
    reader.finish()
    if _bins_checksum(walk.a) != crc:
        raise CodecError("decoded bins fail their checksum: the outputs differ from the encoder's")
    return bin_centres(code, walk.a).reshape(np.shape(outputs)[:-1])


def _discretized_bits(code, outputs, targets) -> np.ndarray:
    params = _parameters(code, outputs)
    bins = discretize(code, targets).reshape(-1)
    rows = np.arange(bins.size)
    return -_evaluate(_interval_log_masses, params, rows, bins, bins) / _LN2


_DISCRETIZED = TargetCodec(_discretized_encode, _discretized_decode, _discretized_bits)

TARGET_CODECS: dict[str, TargetCodec] = {
    "categorical": TargetCodec(_categorical_encode, _categorical_decode, _categorical_bits),
    "bernoulli": TargetCodec(_bernoulli_encode, _bernoulli_decode, _bernoulli_bits),
    "next_token": TargetCodec(
        _next_token_encode, _next_token_decode, _next_token_bits, _next_token_side
    ),
    "discretized_gaussian": _DISCRETIZED,
    "discretized_logistic": _DISCRETIZED,
}
