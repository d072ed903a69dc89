r"""A search space that is a prefix code: choosing a configuration costs its code length.

A search over settings (widths, betas, learning rates, compressor chains) that picks the
configuration with the shortest two-part code must pay for the choice, or the reported total
is not a code length: the decoder has to be told which configuration made the model. Each
dimension here is a prefix code fixed before the data, and a configuration is sent as the
concatenation of its dimensions' codewords, itself a prefix code (Kraft:
$\sum_c 2^{-L(c)} = \prod_d \sum_v 2^{-L_d(v)} \le 1$):

* `Choice`: one of $k$ options, uniformly: $\log_2 k$ bits;
* `IntRange`: an integer in $[a, b]$, uniformly: $\log_2(b - a + 1)$ bits;
* `Count`: an integer $n \ge a$ with no upper end, by Rissanen's universal code:
  $L^*(n - a + 1)$ bits (`mdl.codes.log_star_bits`); ``propose_up_to`` bounds only what the
  search proposes, not the code;
* `Real`: a real in $[a, b]$ at fixed precision: one of $2^p$ evenly spaced points (on a log
  scale with ``log=True``), $p$ bits. A searched value is always one of those points.

References:
  J. Rissanen, "A universal prior for integers and estimation by minimum description length",
  Annals of Statistics, 1983; P. Grunwald, *The Minimum Description Length Principle*, 2007,
  ch. 5 (two-part codes with a code for the model class).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from mdl.codes import log_star_bits

_OPTION_TYPES = (type(None), bool, int, float, str)


class Choice(NamedTuple):
    """One of ``options`` (None, bool, int, float or str), coded uniformly."""

    name: str
    options: tuple

    def bits(self, value) -> float:
        """Bits to send ``value`` in this dimension's code."""
        return math.log2(len(self.options))

    def check(self) -> None:
        """Raise ValueError unless this dimension can be coded (before any training)."""
        if not self.options:
            raise ValueError(f"Choice {self.name!r}: options is empty; give at least one")
        bad = [o for o in self.options if not isinstance(o, _OPTION_TYPES)]
        if bad:
            raise ValueError(
                f"Choice {self.name!r}: options must be None, bool, int, float or str (a name "
                f"that the objective maps to an object); got {bad!r}"
            )
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"Choice {self.name!r}: options repeat: {self.options!r}")

    def values(self):
        """Every value this dimension can send (what the search may propose)."""
        return self.options


class IntRange(NamedTuple):
    """An integer in ``[low, high]`` (both included), coded uniformly."""

    name: str
    low: int
    high: int

    def bits(self, value) -> float:
        """Bits to send ``value`` in this dimension's code."""
        return math.log2(self.high - self.low + 1)

    def check(self) -> None:
        """Raise ValueError unless this dimension can be coded (before any training)."""
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high)):
            raise ValueError(f"IntRange {self.name!r}: low and high must be integers")
        if self.low > self.high:
            raise ValueError(f"IntRange {self.name!r}: low {self.low} > high {self.high}")

    def values(self):
        """Every value this dimension can send (what the search may propose)."""
        return range(self.low, self.high + 1)


class Count(NamedTuple):
    """An integer ``>= low`` with no upper end, coded with Rissanen's log* code of
    ``value - low + 1``; the search proposes values up to ``propose_up_to`` only."""

    name: str
    low: int = 1
    propose_up_to: int = 1024

    def bits(self, value) -> float:
        """Bits to send ``value`` in this dimension's code."""
        return float(log_star_bits(int(value) - self.low + 1))

    def check(self) -> None:
        """Raise ValueError unless this dimension can be coded (before any training)."""
        if not isinstance(self.low, int) or not isinstance(self.propose_up_to, int):
            raise ValueError(f"Count {self.name!r}: low and propose_up_to must be integers")
        if self.propose_up_to < self.low:
            raise ValueError(
                f"Count {self.name!r}: propose_up_to {self.propose_up_to} < low {self.low}"
            )

    def values(self):
        """Every value this dimension can send (what the search may propose)."""
        return range(self.low, self.propose_up_to + 1)


class Real(NamedTuple):
    """A real in ``[low, high]`` at ``precision`` bits: one of ``2**precision`` evenly spaced
    points (geometrically spaced with ``log=True``), coded uniformly."""

    name: str
    low: float
    high: float
    precision: int = 4
    log: bool = False

    def bits(self, value) -> float:
        """Bits to send ``value`` in this dimension's code."""
        return float(self.precision)

    def check(self) -> None:
        """Raise ValueError unless this dimension can be coded (before any training)."""
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(
                f"Real {self.name!r}: need finite low < high; got [{self.low}, {self.high}]"
            )
        if self.log and self.low <= 0:
            raise ValueError(f"Real {self.name!r}: log=True needs low > 0; got {self.low}")
        if not isinstance(self.precision, int) or not 1 <= self.precision <= 16:
            raise ValueError(
                f"Real {self.name!r}: precision must be an integer number of bits in [1, 16]; "
                f"got {self.precision!r}"
            )

    def point(self, index: int) -> float:
        """The ``index``-th of the ``2**precision`` points."""
        t = index / (2**self.precision - 1)
        if self.log:
            return float(math.exp(math.log(self.low) + t * math.log(self.high / self.low)))
        return float(self.low + t * (self.high - self.low))

    def values(self):
        """Every value this dimension can send (what the search may propose)."""
        return [self.point(i) for i in range(2**self.precision)]


Dimension = Choice | IntRange | Count | Real


class SearchSpace:
    """Named dimensions, each a prefix code; a configuration is a dict name -> value.

    Args:
      dimensions: `Choice`, `IntRange`, `Count` or `Real`, with distinct names.

    Raises:
      ValueError: for no dimensions, a repeated name, anything that is not a dimension (an
        unbounded integer must be a `Count`, which carries its universal prior), or a dimension
        that cannot be coded (empty options, low > high, a non-finite or non-positive log range);
        all before any training.
    """

    def __init__(self, dimensions: Sequence[Dimension]):
        dimensions = tuple(dimensions)
        if not dimensions:
            raise ValueError("a SearchSpace needs at least one dimension; got none")
        for dim in dimensions:
            if not isinstance(dim, Choice | IntRange | Count | Real):
                raise ValueError(
                    f"a SearchSpace dimension must be Choice, IntRange, Count or Real (an "
                    f"integer without an upper end is a Count, coded with log*); got {dim!r}"
                )
            dim.check()
        names = [d.name for d in dimensions]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"SearchSpace dimension names repeat: {repeated}")
        self.dimensions = dimensions

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.dimensions)!r})"

    def bits(self, config: Mapping[str, Any]) -> float:
        """The configuration's code length: the sum of its dimensions' code lengths."""
        self.check_config(config)
        return sum(dim.bits(config[dim.name]) for dim in self.dimensions)

    def check_config(self, config: Mapping[str, Any]) -> None:
        """Raise ValueError unless ``config`` names every dimension with a codable value."""
        missing = [d.name for d in self.dimensions if d.name not in config]
        extra = sorted(set(config) - {d.name for d in self.dimensions})
        if missing or extra:
            raise ValueError(
                f"config must name exactly the dimensions: missing {missing}, extra {extra}"
            )
        for dim in self.dimensions:
            value = config[dim.name]
            if isinstance(dim, Count):
                ok = isinstance(value, int) and value >= dim.low
            elif isinstance(dim, Real):
                ok = any(math.isclose(value, v, rel_tol=1e-12) for v in dim.values())
            else:
                ok = value in dim.values()
            if not ok:
                raise ValueError(f"{dim.name}={value!r} is not a value of {dim!r}")

    def params(self, config: Mapping[str, Any]) -> dict:
        """The Optuna trial parameters that `suggest` turns into ``config`` (a `Real` as its
        point's index): what ``study.enqueue_trial`` takes.

        Raises:
          ValueError: unless ``config`` is a configuration of this space (`check_config`).
        """
        self.check_config(config)
        params = {}
        for dim in self.dimensions:
            value = config[dim.name]
            if isinstance(dim, Real):
                points = dim.values()
                index = min(range(len(points)), key=lambda i: abs(points[i] - value))
                params[f"{dim.name}#index"] = index
            else:
                params[dim.name] = value
        return params

    def suggest(self, trial) -> dict:
        """A configuration proposed by an Optuna trial (a `Real` is proposed as its point's
        index, so every proposal is a point of the code)."""
        config = {}
        for dim in self.dimensions:
            if isinstance(dim, Choice):
                config[dim.name] = trial.suggest_categorical(dim.name, list(dim.options))
            elif isinstance(dim, Real):
                index = trial.suggest_int(f"{dim.name}#index", 0, 2**dim.precision - 1)
                config[dim.name] = dim.point(index)
            else:
                high = dim.high if isinstance(dim, IntRange) else dim.propose_up_to
                config[dim.name] = trial.suggest_int(dim.name, dim.low, high)
        return config
