"""sampler="bisect": finds the threshold of a monotone constraint in the fewest evaluations,
steers by the study's trials (so a resumed search goes on where it stopped), and refuses what
it cannot bisect before anything runs."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.search import Choice, Count, IntRange, Real, SearchSpace, search
from mdl.search.bisection import bisection_index


@given(n=st.integers(1, 300), data=st.data())
def test_bisection_finds_the_threshold_in_the_worst_case_optimal_number_of_steps(n, data):
    """Feasible exactly at indices <= t: bisection ends with t (or nothing) as its largest
    feasible point after at most ceil(log2(n + 1)) distinct evaluations (the information
    bound: n + 1 possible thresholds, one bit per evaluation)."""
    threshold = data.draw(st.integers(-1, n - 1))
    evaluated = []
    while (index := bisection_index(evaluated, n)) is not None:
        assert 0 <= index < n
        assert index not in [i for i, _ in evaluated]
        evaluated.append((index, index <= threshold))
        assert len(evaluated) <= n
    assert max((i for i, ok in evaluated if ok), default=-1) == threshold
    assert len(evaluated) <= math.ceil(math.log2(n + 1))
    # the bracket closed around the threshold: its neighbour above, if any, was found infeasible
    if threshold + 1 < n:
        assert (threshold + 1, False) in evaluated


def threshold_objective(calls):
    """Bits fall as beta grows; the constraint holds up to beta 0.2."""

    def objective(config):
        calls.append(config["beta"])
        return {"bits": 100.0 / config["beta"], "violation": max(0.0, config["beta"] - 0.2)}

    return objective


SPACE = SearchSpace([Real("beta", 0.12, 0.35, precision=5, log=True), Choice("epochs", (40,))])
POINTS = SPACE.dimensions[0].values()


def test_bisect_returns_the_largest_feasible_point_and_stops_when_the_bracket_closes():
    calls = []
    result = search(
        threshold_objective(calls), SPACE, trials=20, constrained=True, sampler="bisect"
    )
    best = max(p for p in POINTS if p <= 0.2)  # found by looking at every point
    assert result.config == {"beta": pytest.approx(best), "epochs": 40}
    assert result.feasible
    assert result.search_bits == 5.0  # the space's code, whatever the strategy
    assert len(calls) == len(set(calls)) <= math.ceil(math.log2(len(POINTS) + 1))
    assert calls[0] == pytest.approx(POINTS[(len(POINTS) - 1) // 2])  # the middle first


def test_bisect_resumes_from_the_study_where_it_stopped(tmp_path):
    """Two trials, then a rerun on the same journal: the rerun goes on with the bracket the
    first two trials left, and the whole run evaluates what one uninterrupted run does."""
    whole = []
    search(threshold_objective(whole), SPACE, trials=20, constrained=True, sampler="bisect")
    calls = []
    objective = threshold_objective(calls)
    search(objective, SPACE, trials=2, constrained=True, sampler="bisect", out=tmp_path)
    assert calls == whole[:2]
    search(objective, SPACE, trials=20, constrained=True, sampler="bisect", out=tmp_path)
    assert calls == whole


def test_bisect_over_a_choice_of_numbers_orders_them():
    calls = []
    space = SearchSpace([Choice("beta", (0.3, 0.1, 0.2, 0.15)), Choice("epochs", (40,))])
    result = search(threshold_objective(calls), space, trials=9, constrained=True, sampler="bisect")
    assert result.config["beta"] == 0.2
    assert calls == [0.15, 0.2, 0.3]  # sorted: 0.1, 0.15, 0.2, 0.3; middle first


@pytest.mark.parametrize(
    ("space", "constrained", "message"),
    [
        (SearchSpace([Choice("a", (1, 2)), Choice("b", (1, 2))]), True, "exactly one"),
        (SearchSpace([Choice("a", (1,))]), True, "exactly one"),
        (SearchSpace([Choice("a", ("x", "y"))]), True, "numbers"),
        (SearchSpace([Count("a", 1, 8)]), True, "Count"),
        (SearchSpace([IntRange("a", 1, 8)]), False, "constrained"),
    ],
)
def test_what_bisection_cannot_do_is_refused_before_any_evaluation(space, constrained, message):
    calls = []
    with pytest.raises(ValueError, match=message):
        search(calls.append, space, trials=3, constrained=constrained, sampler="bisect")
    assert not calls


def test_compress_model_bisects_beta(tmp_path):
    """The error-target search with ``sampler="bisect"``: its first trial is the middle of the
    ordered betas, and every trial is one of them."""
    from mdl.data import load
    from mdl.search import compress_model

    data = load("digits")
    space = SearchSpace([Choice("beta", (3.0, 0.3)), Choice("epochs", (1,))])
    summary = compress_model(
        "mlp", data, out=tmp_path, space=space, trials=2, max_error=0.5, sampler="bisect"
    )
    betas = [t["config"]["beta"] for t in summary["trials"]]
    assert betas[0] == 0.3  # index (-1 + 2) // 2 = 0 of (0.3, 3.0)
    assert set(betas) <= {0.3, 3.0}
    assert summary["config"]["beta"] in betas


def test_a_first_point_steers_the_bisection_like_its_own_trial():
    """A queued ``first`` point is evaluated first, and the bracket starts from its result:
    feasible at index 3, the next proposal is the middle of (3, n)."""
    calls = []
    start = {"beta": POINTS[3], "epochs": 40}
    search(
        threshold_objective(calls),
        SPACE,
        trials=2,
        constrained=True,
        sampler="bisect",
        first=[start],
    )
    assert calls == [pytest.approx(POINTS[3]), pytest.approx(POINTS[(3 + len(POINTS)) // 2])]
