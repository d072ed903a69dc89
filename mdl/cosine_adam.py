r"""The optimizer of mdl's searches and experiments: Adam with a cosine-decayed step size.

The step size falls from $\eta_0$ to 0 along half a cosine over the whole run,

$$ \eta_t = \eta_0 \cdot \tfrac12 \left(1 + \cos \frac{\pi t}{T}\right), \qquad
   T = \text{epochs} \times \lfloor n / B \rfloor, $$

(Loshchilov & Hutter, "SGDR: stochastic gradient descent with warm restarts", ICLR 2017,
without the restarts), with $T$ counted in `mdl.train.fit`'s steps: whole minibatches of $B$
of the $n$ training examples. Why decay at all: with straight-through rounding a constant step
keeps the error oscillating by about half a point from one epoch to the next, and decaying it
settles the weights the file stores.
"""

from __future__ import annotations

import optax


def cosine_decay(
    learning_rate: float, *, epochs: int, examples: int, batch_size: int = 128
) -> optax.Schedule:
    """The schedule (module doc): ``learning_rate`` at step 0, 0 after ``epochs`` epochs of
    ``examples // batch_size`` steps.

    Raises:
      ValueError: for a ``learning_rate`` that is not positive and finite, ``epochs`` or
        ``batch_size`` below 1, or fewer ``examples`` than one minibatch.
    """
    if not 0 < learning_rate < float("inf"):
        raise ValueError(f"learning_rate must be positive and finite; got {learning_rate!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if not isinstance(examples, int) or examples < batch_size:
        raise ValueError(
            f"examples must be an integer of at least one minibatch ({batch_size}); "
            f"got {examples!r}"
        )
    return optax.cosine_decay_schedule(learning_rate, epochs * (examples // batch_size))


def cosine_adam(
    learning_rate: float, *, epochs: int, examples: int, batch_size: int = 128
) -> optax.GradientTransformation:
    """``optax.adam`` with `cosine_decay`'s schedule (same arguments, same errors)."""
    return optax.adam(
        cosine_decay(learning_rate, epochs=epochs, examples=examples, batch_size=batch_size)
    )
