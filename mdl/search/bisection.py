r"""Bisection of one ordered setting against a monotone constraint: an Optuna sampler.

Many compression settings trade accuracy for size along one axis: a larger $\beta$ (the
weight of the model's bits), a higher pruning rate or a coarser grid gives a smaller file and
a larger error. To find the smallest file whose error meets a target, with every other
setting fixed, a grid or TPE spends most of its trials far from the one place that matters,
the threshold $t$ where the constraint starts to fail. If the constraint holds for every value
at or below $t$ and fails above it (the objective falling as the value grows), bisection finds
$t$ among $n$ ordered values in $\lceil \log_2(n + 1) \rceil$ evaluations, the fewest any
strategy needs in the worst case.

The state is read from the study's finished trials, so the sampler holds nothing of its own: a
resumed search, or points queued with ``first``, steer it like its own proposals. With
$lo$ the largest feasible index evaluated ($-1$ if none) and $hi$ the smallest infeasible index
above $lo$ ($n$ if none), the next proposal is $\lfloor (lo + hi) / 2 \rfloor$ until
$hi - lo = 1$; then the bracket is closed and the search stops. Where the constraint is noisy
(a validation error a few images either side of its target), the threshold found is one
crossing of it, and the winner is still the shortest feasible code among the trials.

Bisection is sequential: workers that share a store propose the same point, and all but one
wait for its result (`mdl.search.search` evaluates a configuration once).

The charge is the space's code, as for any sampler: how the search moves through the space
does not change what a configuration costs to name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import optuna
from optuna.trial import TrialState

from mdl.search.space import Choice, Count, Real, SearchSpace


def bisection_index(evaluated: Iterable[tuple[int, bool]], n: int) -> int | None:
    """The next index to evaluate among ``n`` ordered values, or None once the bracket closed.

    Args:
      evaluated: ``(index, feasible)`` of every value evaluated so far, in any order.
      n: how many ordered values there are (indices ``0 .. n - 1``).
    """
    evaluated = list(evaluated)
    lo = max((i for i, ok in evaluated if ok), default=-1)
    hi = min((i for i, ok in evaluated if not ok and i > lo), default=n)
    if hi - lo <= 1:
        return None
    return (lo + hi) // 2


def _values(dim) -> list:
    """The values a dimension may propose, in order (a `Count` by its proposal range)."""
    if isinstance(dim, Choice):
        return sorted(dim.options)
    return list(dim.values())


def _param(dim) -> str:
    """The Optuna parameter that carries a dimension's value (a `Real` as its point's index)."""
    return f"{dim.name}#index" if isinstance(dim, Real) else dim.name


class BisectionSampler(optuna.samplers.BaseSampler):
    """Optuna sampler: bisect the one dimension of ``space`` that has more than one value.

    Built by `mdl.search.search` for ``sampler="bisect"``; see the module doc for the
    assumption (the constraint holds at or below a threshold value of that dimension).

    Raises:
      ValueError: unless exactly one dimension has more than one value and it is ordered (a
        `Real`, an `IntRange`, or a `Choice` of numbers; a `Count` has no upper end to bisect).
    """

    def __init__(self, space: SearchSpace):
        free = [d for d in space.dimensions if len(_values(d)) != 1]
        if len(free) != 1:
            raise ValueError(
                "sampler 'bisect' needs exactly one dimension with more than one value (every "
                f"other setting fixed); got {[d.name for d in free] or 'none'}"
            )
        (dim,) = free
        if isinstance(dim, Count):
            raise ValueError(
                f"sampler 'bisect': dimension {dim.name!r} is a Count (no upper end); give an "
                "IntRange, a Real or a Choice of numbers"
            )
        if isinstance(dim, Choice) and not all(
            isinstance(o, int | float) and not isinstance(o, bool) for o in dim.options
        ):
            raise ValueError(
                f"sampler 'bisect': Choice {dim.name!r} must hold numbers (an order to bisect); "
                f"got {dim.options!r}"
            )
        self.dimension = dim
        self.values = _values(dim)
        self.param = _param(dim)
        # every other parameter has one value
        self.fixed = {_param(d): _values(d)[0] for d in space.dimensions if d is not dim}

    def _index(self, params: dict) -> int | None:
        if self.param not in params:
            return None
        value = params[self.param]
        if isinstance(self.dimension, Real):
            return int(value)
        return next(
            (i for i, v in enumerate(self.values) if math.isclose(v, value, rel_tol=1e-12)), None
        )

    def evaluated(self, study) -> list[tuple[int, bool]]:
        """``(index, feasible)`` of the study's evaluated trials (their recorded violation)."""
        rows = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            index = self._index(t.params)
            if index is not None and "violation" in t.user_attrs:
                rows.append((index, t.user_attrs["violation"] == 0.0))
        return rows

    def next_index(self, study) -> int | None:
        """The index the next trial evaluates, or None once the bracket is closed."""
        return bisection_index(self.evaluated(study), len(self.values))

    # Optuna's sampler interface: every parameter is sampled on its own

    def infer_relative_search_space(self, study, trial) -> dict:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def sample_independent(self, study, trial, param_name: str, param_distribution) -> Any:
        if param_name != self.param:
            return self.fixed[param_name]
        index = self.next_index(study)
        if index is None:  # closed (the search stops before this): the best feasible again
            index = max((i for i, ok in self.evaluated(study) if ok), default=0)
        return index if isinstance(self.dimension, Real) else self.values[index]
