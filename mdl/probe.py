r"""MDL probing (Voita and Titov 2020): how many bits does a probe need to send a property of
the inputs given a layer's features?

`probe_code` is the online (prequential) code length of ``labels`` given frozen ``features``
with a small probe (linear, or an MLP with one hidden layer) retrained on each block seen so
far, on Voita and Titov's block schedule: the first 0.1% of the examples coded uniformly,
then blocks ending at 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25, 50 and 100% (`voita_schedule`).
It is `mdl.estimators.prequential` with that schedule and a probe model, so its length is a
real file that decodes back (``file=`` keeps it; `mdl.estimators.decode_prequential` reads it).

A property that a layer makes easy to extract has a short online code: the probe learns it
from few examples. Voita and Titov compare codes across layers, against a randomly
initialized network, and against a **control task** (`control_labels`: each input *type*
gets a random label, so the control is learnable only by memorizing types); *selectivity* is
the control task's code minus the real task's (longer control codes: the features carry the
property, not just the types).

References:
  E. Voita and I. Titov, "Information-theoretic probing with minimum description length",
  EMNLP 2020; J. Hewitt and P. Liang, "Designing and interpreting probes with control tasks",
  EMNLP 2019.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mdl.estimators.report import DescriptionLength
from mdl.models import MLP

# Block ends as percentages of the examples (Voita and Titov 2020, section 2.2).
VOITA_PERCENTS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25.0, 50.0, 100.0)
"""Block ends of the online code, in percent of the examples (Voita and Titov 2020): the first
block (0.1%) is coded uniformly, each later one with a probe trained on all before it."""


def voita_schedule(n: int, percents: Sequence[float] = VOITA_PERCENTS) -> tuple[int, ...]:
    """Block boundaries for ``n`` examples: ``round(n p / 100)`` for each percentage, at least
    2 for the first (uniformly coded) block, strictly increasing (repeats dropped), ending
    at ``n``.

    Raises:
      ValueError: for fewer than 4 examples or percentages that are not increasing in (0, 100].
    """
    if n < 4:
        raise ValueError(f"probing needs at least 4 examples; got {n}")
    percents = [float(p) for p in percents]
    if not percents or any(b <= a for a, b in zip(percents, percents[1:], strict=False)):
        raise ValueError(f"percents must increase; got {percents}")
    if percents[0] <= 0 or percents[-1] > 100:
        raise ValueError(f"percents must lie in (0, 100]; got {percents}")
    bounds = []
    for p in percents:
        b = min(n, max(2, round(n * p / 100)))
        if not bounds or b > bounds[-1]:
            bounds.append(b)
    if bounds[-1] != n:
        bounds.append(n)
    if len(bounds) < 2:
        raise ValueError(f"{n} examples leave no block after the first")
    return tuple(bounds)


def control_labels(types, num_classes: int, *, seed: int = 0) -> np.ndarray:
    """Hewitt and Liang's control task: every distinct value of ``types`` (an input's type:
    a word, a character, an image's identity) gets a label drawn uniformly from
    ``num_classes`` with ``seed``; each example gets its type's label.

    Args:
      types: one hashable type id per example (ints or strings), ``[n]``.
      num_classes: the label alphabet, at least 2.
      seed: the draw's seed.

    Returns:
      ``[n]`` int32 labels.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2; got {num_classes}")
    types = np.asarray(types)
    values, inverse = np.unique(types, return_inverse=True)
    table = np.random.default_rng(seed).integers(0, num_classes, size=len(values))
    return table[inverse.reshape(-1)].astype(np.int32)


def probe_code(
    features,
    labels,
    *,
    num_classes: int,
    hidden: int | None = None,
    percents: Sequence[float] = VOITA_PERCENTS,
    seed: int = 0,
    file=None,
    **options,
) -> DescriptionLength:
    """The online code length of ``labels`` given ``features`` (module doc), in bits.

    Args:
      features: ``[n, d]`` frozen features (a layer's activations), in transmission order.
      labels: ``[n]`` integer labels of the property.
      num_classes: the property's alphabet (the first block costs ``log2 K`` bits a label).
      hidden: None for a linear probe, else the width of an MLP probe's hidden layer.
      percents: the block schedule (`voita_schedule`).
      seed: the probes' initialization and minibatch seed.
      file: where to write the code's file (None: measured, not kept).
      **options: other `mdl.estimators.prequential` settings (learning_rate, max_epochs...).

    Returns:
      A `mdl.estimators.DescriptionLength` (real: the file's length) whose ``details`` add
      ``uniform_bits`` and ``compression``: uniform over the online code's ideal length
      (``details["ideal_bits"]``, without the file's fixed settings and framing), Voita and
      Titov's ratio.
    """
    features = np.asarray(features, np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be [n, d]; got shape {features.shape}")
    labels = np.asarray(labels)
    if labels.shape != (len(features),):
        raise ValueError(f"labels must be [n] for {len(features)} features; got {labels.shape}")
    d = features.shape[1]
    sizes = [d, num_classes] if hidden is None else [d, hidden, num_classes]
    prequential = importlib.import_module("mdl.estimators.prequential")  # the module
    report = prequential.prequential(
        lambda rngs: MLP(sizes, rngs=rngs),
        features,
        labels,
        num_classes=num_classes,
        schedule=voita_schedule(len(labels), percents),
        seed=seed,
        file=file,
        **options,
    )
    uniform = len(labels) * math.log2(num_classes)
    details = {
        **report.details,
        "uniform_bits": uniform,
        "compression": uniform / report.details["ideal_bits"],
    }
    return replace(report, details=details)


__all__ = ["VOITA_PERCENTS", "control_labels", "probe_code", "voita_schedule"]
