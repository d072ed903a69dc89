"""scikit-learn's 8x8 handwritten digits (1,797 images, shipped inside the sklearn wheel)."""

from __future__ import annotations

import numpy as np

from mdl.data.dataset import Dataset


def load_digits(seed: int = 0, test_fraction: float = 0.3) -> Dataset:
    """Digits with a seeded, stratification-free random split; pixels scaled to [0, 1].

    ``x`` has shape ``[n, 8, 8]`` (float32), labels are int64 in 0..9. The default split
    (seed 0, 30% test) gives 1,258 train and 539 test images.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
    from sklearn.datasets import load_digits as sklearn_digits

    raw = sklearn_digits()
    images = (raw.images / 16.0).astype(np.float32)
    labels = raw.target.astype(np.int64)
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
