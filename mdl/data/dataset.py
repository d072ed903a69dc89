"""The container every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays plus what a model needs to know about them.

    A container, no code length: the data codes that charge bits for ``y`` given ``x`` are
    in `mdl.codes`. Construction checks that each split has as many ``x`` as ``y`` and that
    every example has shape ``input_shape``.

    Attributes:
      x_train, y_train, x_test, y_test: numpy arrays; ``x`` has shape ``[n, *input_shape]``.
      num_classes: number of label values (the alphabet size for sequence tasks).
      input_shape: shape of one example.
      source: where the data came from (a file path, a package, or a generator and its seed).
      extras: task-specific arrays and facts (e.g. ``allowed_next`` for formal languages,
        ``alphabet`` for text, ``x_valid``/``y_valid`` where a split has one).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    source: str
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(f"x_{split} has {len(x)} examples but y_{split} has {len(y)}")
            if tuple(x.shape[1:]) != tuple(self.input_shape):
                raise ValueError(
                    f"x_{split} examples have shape {x.shape[1:]}, expected {self.input_shape}"
                )

    def __repr__(self) -> str:
        return (
            f"Dataset({self.source}: train {self.x_train.shape} {self.x_train.dtype}, "
            f"test {self.x_test.shape}, {self.num_classes} classes)"
        )
