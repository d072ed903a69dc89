"""The search space is a prefix code: Kraft sums against direct enumeration, code lengths
against closed forms, and bad spaces refused before anything runs."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdl.search import Choice, Count, IntRange, Real, SearchSpace


def rissanen_log_star(n: int) -> float:
    """log2 c + log2 n + log2 log2 n + ... (positive terms), c = 2.865064, written out here."""
    total, x = math.log2(2.865064), float(n)
    while True:
        x = math.log2(x)
        if x <= 0:
            return total
        total += x


def test_count_codes_with_rissanen_log_star():
    dim = Count("layers", low=1)
    for n in (1, 2, 3, 4, 16, 17, 65536, 65537):
        assert dim.bits(n) == pytest.approx(rissanen_log_star(n), abs=1e-4)
    assert Count("n", low=5).bits(5) == pytest.approx(rissanen_log_star(1), abs=1e-4)


@given(
    k=st.integers(1, 9),
    low=st.integers(-5, 5),
    span=st.integers(0, 12),
    precision=st.integers(1, 6),
)
def test_kraft_sum_over_an_enumerated_space_is_at_most_one(k, low, span, precision):
    """sum over every configuration of 2^-bits: exactly 1 for the finite dimensions (a
    complete code), below 1 with a truncated Count; enumerated, not from the product formula."""
    space = SearchSpace(
        [
            Choice("family", tuple(f"f{i}" for i in range(k))),
            IntRange("width", low, low + span),
            Real("lr", 1e-4, 1e-1, precision=precision, log=True),
        ]
    )
    total = math.fsum(
        2.0 ** -space.bits({"family": f, "width": w, "lr": r})
        for f, w, r in itertools.product(
            space.dimensions[0].options, range(low, low + span + 1), space.dimensions[2].values()
        )
    )
    assert total == pytest.approx(1.0, rel=1e-9)


def test_kraft_sum_with_an_unbounded_count_stays_below_one():
    """A Count's codewords over 1..2,000 (with a Choice before it) sum below one, and the
    remainder is the tail that a complete universal code leaves for larger integers."""
    space = SearchSpace([Choice("a", ("x", "y")), Count("n", low=1, propose_up_to=2000)])
    per_n = [2.0 ** -space.bits({"a": "x", "n": n}) for n in range(1, 2001)]
    partial = 2 * math.fsum(per_n)  # both options of the Choice
    tail = 2 * math.fsum(2.0 ** -rissanen_log_star(n) / 2 for n in range(2001, 200_001))
    assert 0.5 < partial < 1.0 and partial + tail < 1.0


def test_real_points_are_the_grid():
    linear = Real("x", 0.0, 1.0, precision=2)
    assert linear.values() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    geometric = Real("lr", 1e-4, 1e-1, precision=2, log=True)
    assert geometric.values() == pytest.approx(np.geomspace(1e-4, 1e-1, 4).tolist())
    assert geometric.bits(geometric.values()[1]) == 2.0


@pytest.mark.parametrize(
    ("dimensions", "message"),
    [
        ([], "at least one dimension"),
        ([Choice("a", ())], "options is empty"),
        ([IntRange("a", 3, 1)], "low 3 > high 1"),
        ([Real("a", 1.0, 1.0)], "finite low < high"),
        ([Real("a", 0.0, 1.0, log=True)], "log=True needs low > 0"),
        ([Real("a", 0.0, 1.0, precision=40)], "precision must be"),
        ([Choice("a", (1, 2)), IntRange("a", 0, 3)], "names repeat"),
        ([("width", 1, None)], "an integer without an upper end is a Count"),
        ([Choice("a", (object(),))], "options must be None, bool, int, float or str"),
    ],
)
def test_bad_spaces_are_refused_with_the_reason(dimensions, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace(dimensions)


def test_a_config_outside_the_space_has_no_code():
    space = SearchSpace([IntRange("width", 1, 4), Real("lr", 0.0, 1.0, precision=1)])
    assert space.bits({"width": 2, "lr": 1.0}) == 3.0
    with pytest.raises(ValueError, match="missing"):
        space.bits({"width": 2})
    with pytest.raises(ValueError, match="is not a value"):
        space.bits({"width": 9, "lr": 1.0})
    with pytest.raises(ValueError, match="is not a value"):
        space.bits({"width": 2, "lr": 0.5})  # between the two points of a 1-bit real


def test_params_are_what_suggest_turns_back_into_each_configuration():
    """`SearchSpace.params` inverts `suggest` over every configuration of a small space (an
    Optuna FixedTrial replays the parameters)."""
    import optuna

    space = SearchSpace(
        [
            IntRange("width", 1, 3),
            Choice("act", ("relu", "tanh")),
            Real("lr", 1e-4, 1e-1, precision=2, log=True),
            Count("layers", low=1, propose_up_to=3),
        ]
    )
    names = [d.name for d in space.dimensions]
    for values in itertools.product(*(d.values() for d in space.dimensions)):
        config = dict(zip(names, values, strict=True))
        params = space.params(config)
        assert space.suggest(optuna.trial.FixedTrial(params)) == config
