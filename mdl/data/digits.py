"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside the sklearn wheel)."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from mdl.data.dataset import Dataset


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> Dataset:
    """Digits with a seeded, stratification-free random split; pixels scaled to [0, 1].

    ``x`` has shape ``[n, 8, 8]`` (float32), labels are int64 in 0..9. The default split
    (seed 0, 30% test) gives 1,258 train and 539 test images.

    Pixels are the 0..16 counts of the original divided by 16; ``round(test_fraction * n)``
    images of a ``seed``-permuted order form the test set.

    Args:
      seed: the split's seed (NumPy ``default_rng``).
      test_fraction: the test share, in $(0, 1)$.

    Returns:
      A `Dataset` with 10 classes and ``input_shape`` ``(8, 8)``.

    References:
      E. Alpaydin, C. Kaynak, "Optical recognition of handwritten digits", UCI Machine
      Learning Repository, 1998 (the data scikit-learn ships).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
    table = _digits_table()
    images = (table[:, :-1].reshape(-1, 8, 8) / 16.0).astype(np.float32)
    labels = table[:, -1].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(
        images[train],
        labels[train],
        images[test],
        labels[test],
        num_classes=10,
        input_shape=(8, 8),
        source=f"sklearn.datasets.load_digits (split seed {seed}, test fraction {test_fraction})",
    )


def _digits_table() -> np.ndarray:
    """The ``[1797, 65]`` table (64 pixels, then the label) that
    ``sklearn.datasets.load_digits`` reads, read from the same file without importing
    scikit-learn: its import takes about 2 s, twenty times the reading, and is paid by every
    demo, sweep and test that starts on digits."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the digits data ships inside scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as file:
        return np.loadtxt(file, delimiter=",", dtype=np.float64)
