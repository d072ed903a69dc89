"""mdl.cosine_adam: the schedule against the closed form, computed here with numpy."""

import math

import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.cosine_adam import cosine_adam, cosine_decay


@settings(max_examples=50, deadline=None)
@given(
    learning_rate=st.floats(1e-5, 1.0),
    epochs=st.integers(1, 50),
    batch_size=st.integers(1, 256),
    extra=st.integers(0, 2_000),
    fraction=st.floats(0.0, 1.5),
)
def test_the_schedule_is_half_a_cosine_over_the_whole_run(
    learning_rate, epochs, batch_size, extra, fraction
):
    """eta_t = eta_0 (1 + cos(pi t / T)) / 2 for t <= T, 0 after, with T = epochs x whole
    minibatches: the first step gets the full rate, the last none."""
    examples = batch_size + extra
    total = epochs * (examples // batch_size)
    schedule = cosine_decay(learning_rate, epochs=epochs, examples=examples, batch_size=batch_size)
    step = int(fraction * total)
    expected = learning_rate * 0.5 * (1 + np.cos(np.pi * min(step, total) / total))
    assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-7 * learning_rate)
    assert float(schedule(0)) == pytest.approx(learning_rate, rel=1e-6)
    assert float(schedule(total)) == pytest.approx(0.0, abs=1e-7 * learning_rate)


def test_cosine_adam_is_adam_with_that_schedule():
    """One update of each on the same gradient is the same step."""
    params = {"w": np.array([1.0, -2.0, 3.0], np.float32)}
    grads = {"w": np.array([0.5, 0.25, -1.0], np.float32)}
    ours = cosine_adam(3e-3, epochs=4, examples=1_000, batch_size=100)
    theirs = optax.adam(optax.cosine_decay_schedule(3e-3, 40))
    last = []
    for optimizer in (ours, theirs):
        state = optimizer.init(params)
        for _ in range(3):
            updates, state = optimizer.update(grads, state, params)
        last.append(np.asarray(updates["w"]))
    assert np.all(last[0] != 0)
    np.testing.assert_array_equal(*last)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": 0.0}, "learning_rate must be positive"),
        ({"learning_rate": math.inf}, "learning_rate must be positive"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": 2.5}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"examples": 100}, r"examples must be an integer of at least one minibatch \(128\)"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"learning_rate": 1e-3, "epochs": 2, "examples": 1_000, **kwargs}
    with pytest.raises(ValueError, match=message):
        cosine_decay(**arguments)
    with pytest.raises(ValueError, match=message):
        cosine_adam(**arguments)
