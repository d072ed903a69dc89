"""`mdl.data.random_shift` against a numpy translation written here."""

import itertools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.data import random_shift


def numpy_shift(image, dh, dw):
    """``image`` [H, W(, C)] moved down by ``dh`` and right by ``dw``; the pixels shifted in
    repeat the nearest border pixel."""
    h, w = image.shape[:2]
    rows = np.clip(np.arange(h) - dh, 0, h - 1)
    cols = np.clip(np.arange(w) - dw, 0, w - 1)
    return image[rows][:, cols]


def offset_of(original, shifted, m):
    """The shifts in [-m, m]^2 that turn ``original`` into ``shifted``."""
    return [
        (dh, dw)
        for dh, dw in itertools.product(range(-m, m + 1), repeat=2)
        if np.array_equal(numpy_shift(original, dh, dw), shifted)
    ]


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 3),
    shape=st.sampled_from([(7, 7), (6, 9), (5, 8, 2)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_each_image_is_a_translation_by_at_most_max_shift(m, shape, seed):
    rng = np.random.default_rng(seed)
    # distinct pixels, so a translation is identified by its result
    images = rng.permutation(16 * int(np.prod(shape))).reshape(16, *shape).astype(np.float32)
    out = np.asarray(random_shift(jax.random.key(seed), images, m))
    assert out.shape == images.shape and out.dtype == images.dtype
    for image, shifted in zip(images, out, strict=True):
        assert len(offset_of(image, shifted, m)) == 1
    # the same key, the same shifts
    again = np.asarray(random_shift(jax.random.key(seed), images, m))
    np.testing.assert_array_equal(out, again)


def test_shifts_cover_every_offset_and_flat_inputs_are_square_images():
    m, n = 2, 400
    images = np.arange(n * 36, dtype=np.float32).reshape(n, 6, 6)
    out = np.asarray(random_shift(jax.random.key(0), images, m))
    seen = {offset_of(image, shifted, m)[0] for image, shifted in zip(images, out, strict=True)}
    assert seen == set(itertools.product(range(-m, m + 1), repeat=2))  # 25 offsets, 400 draws
    flat = np.asarray(random_shift(jax.random.key(0), images.reshape(n, 36), m))
    np.testing.assert_array_equal(flat, out.reshape(n, 36))
    # no shift is the identity, under jit too
    shifted = jax.jit(lambda x: random_shift(jax.random.key(1), x, 0))(images)
    np.testing.assert_array_equal(np.asarray(shifted), images)


def test_bad_shifts_and_shapes_are_clear_errors():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="not a square image"):
        random_shift(key, np.zeros((2, 10), np.float32), 1)
    with pytest.raises(ValueError, match="below the image side"):
        random_shift(key, np.zeros((2, 4, 4), np.float32), 4)
    with pytest.raises(ValueError, match="integer >= 0"):
        random_shift(key, np.zeros((2, 4, 4), np.float32), -1)
    with pytest.raises(ValueError, match="integer >= 0"):
        random_shift(key, np.zeros((2, 4, 4), np.float32), 1.5)
    with pytest.raises(ValueError, match="got shape"):
        random_shift(key, np.zeros((2, 4, 4, 1, 1), np.float32), 1)
