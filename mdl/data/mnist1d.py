"""MNIST-1D, generated procedurally (Greydanus, "Scaling down deep learning", 2020).

Ten hand-drawn 12-point templates, one per digit, are padded, stretched, scaled, translated,
overlaid with correlated and i.i.d. noise, sheared and resampled to 40 points. The settings are
the published generator's defaults (5,000 examples, 80/20 split, seed 42), reimplemented here
with NumPy's legacy ``RandomState`` (the generator the original uses) so no download is needed.
Same seed, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from mdl.data.dataset import Dataset


@dataclass(frozen=True)
class MNIST1DSettings:
    num_samples: int = 5000
    train_split: float = 0.8
    template_len: int = 12
    padding: tuple[int, int] = (36, 60)
    scale_coeff: float = 0.4
    max_translation: int = 48
    corr_noise_scale: float = 0.25
    iid_noise_scale: float = 2e-2
    shear_scale: float = 0.75
    final_seq_length: int = 40
    seed: int = 42


def templates() -> np.ndarray:
    """The ten digit templates ``[10, 12]``: whitened, starting at 0, divided by 6."""
    x = np.asarray(
        [
            [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
            [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
            [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
            [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
            [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
            [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
            [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
            [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
            [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
            [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
        ]
    )
    x = x - x.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    x = x - x[:, :1]
    return x / 6.0


def _interpolate(x: np.ndarray, n: int) -> np.ndarray:
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def _transform(x: np.ndarray, s: MNIST1DSettings, rng: np.random.RandomState) -> np.ndarray:
    low, high = s.padding
    pad = low + int(rng.rand() * (high - low + 1))
    x = np.concatenate([x + 1e-8, np.zeros(pad)])
    x = _interpolate(x, s.template_len + s.padding[-1])
    x = x * (1 + s.scale_coeff * (rng.rand() - 0.5))
    k = rng.choice(s.max_translation)
    x = np.concatenate([x[-k:], x[:-k]])  # k = 0 leaves x as is, as in the original
    mask = x != 0
    correlated = gaussian_filter(s.corr_noise_scale * rng.randn(*x.shape), 2)
    x = mask * x + (1 - mask) * correlated
    x = x + s.iid_noise_scale * rng.randn(*x.shape)
    coeff = s.shear_scale * (rng.rand() - 0.5)
    x = x - coeff * np.linspace(-0.5, 0.5, len(x))
    return _interpolate(x, s.final_seq_length)


def load_mnist1d(settings: MNIST1DSettings | None = None, *, seed: int | None = None) -> Dataset:
    """MNIST-1D: 4,000 train / 1,000 test sequences of length 40 (float32), 10 classes.

    ``seed`` overrides ``settings.seed`` (default 42, the published one).

    ``num_samples // 10`` sequences per template are generated, shuffled, standardized to
    zero mean and unit standard deviation over the whole set, and split at ``train_split``.

    Args:
      settings: the generator's settings (default: the published ones).
      seed: overrides ``settings.seed`` when given.

    Returns:
      A `Dataset` with 10 classes and ``input_shape`` ``(final_seq_length,)``.

    References:
      S. Greydanus, "Scaling down deep learning", 2020 (MNIST-1D).
    """
    s = settings or MNIST1DSettings()
    if seed is not None:
        s = MNIST1DSettings(**{**s.__dict__, "seed": seed})
    if s.num_samples < 10 or not 0 < s.train_split < 1:
        raise ValueError("num_samples must be >= 10 and train_split in (0, 1)")
    rng = np.random.RandomState(s.seed)
    base = templates()
    per_class = s.num_samples // len(base)
    xs = [_transform(base[label], s, rng) for label in range(len(base)) for _ in range(per_class)]
    ys = np.repeat(np.arange(len(base)), per_class)
    order = rng.permutation(len(ys))
    xs, ys = np.stack(xs)[order], ys[order]
    xs = (xs - xs.mean()) / xs.std()
    split = int(len(ys) * s.train_split)
    return Dataset(
        xs[:split].astype(np.float32),
        ys[:split].astype(np.int64),
        xs[split:].astype(np.float32),
        ys[split:].astype(np.int64),
        num_classes=10,
        input_shape=(s.final_seq_length,),
        source=f"MNIST-1D generator (Greydanus 2020), seed {s.seed}",
    )
