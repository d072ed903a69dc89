"""Generated data sets: determinism, shapes, and labels that match their definitions."""

import functools
import hashlib
import itertools
import math
import re

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdl.data import batches, load, load_formal_language, load_text
from mdl.data.formal_languages import allowed_next
from mdl.data.mnist1d import MNIST1DSettings, load_mnist1d
from mdl.data.synthetic import teacher_logits


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_mnist1d_is_bit_identical_balanced_and_40_long():
    first, second = load("mnist1d"), load("mnist1d")
    assert digest(first.x_train, first.y_train, first.x_test, first.y_test) == digest(
        second.x_train, second.y_train, second.x_test, second.y_test
    )
    assert first.x_train.shape == (4000, 40) and first.x_test.shape == (1000, 40)
    all_labels = np.concatenate([first.y_train, first.y_test])
    assert np.bincount(all_labels).tolist() == [500] * 10
    assert abs(float(np.concatenate([first.x_train, first.x_test]).std()) - 1) < 1e-3
    other = load_mnist1d(seed=7)
    assert not np.array_equal(other.x_train, first.x_train)


def test_mnist1d_settings_validate():
    with pytest.raises(ValueError, match="num_samples"):
        load_mnist1d(MNIST1DSettings(num_samples=5))


@given(
    p=st.sampled_from([7, 11, 13, 23]),
    op=st.sampled_from(["+", "-", "*", "/"]),
    fraction=st.floats(0.1, 0.9),
    seed=st.integers(0, 100),
)
def test_modular_arithmetic_matches_its_definition(p, op, fraction, seed):
    data = load("modular", p=p, op=op, train_fraction=fraction, seed=seed)
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    expected = {
        "+": lambda a, b: (a + b) % p,
        "-": lambda a, b: (a - b) % p,
        "*": lambda a, b: (a * b) % p,
        "/": lambda a, b: next(c for c in range(p) if (c * b) % p == a % p),
    }[op]
    assert all(int(c) == expected(int(a), int(b)) for (a, b), c in zip(x, y, strict=True))
    assert len({tuple(row) for row in x}) == len(x) == p * (p - 1 if op == "/" else p)


def test_modular_arithmetic_bad_input():
    with pytest.raises(ValueError, match="needs a prime p"):
        load("modular", p=12, op="/")
    with pytest.raises(ValueError, match="op must be one of"):
        load("modular", op="^")
    with pytest.raises(ValueError, match="train_fraction must be in"):
        load("modular", train_fraction=1.0)


@given(bits=st.integers(2, 30), data=st.data(), seed=st.integers(0, 1000))
def test_sparse_parity_labels_are_the_parity_of_the_relevant_bits(bits, data, seed):
    k = data.draw(st.integers(1, bits))
    dataset = load(
        "sparse_parity", num_bits=bits, num_relevant=k, num_train=50, num_test=20, seed=seed
    )
    relevant = dataset.extras["relevant_bits"]
    assert len(set(relevant.tolist())) == k
    for x, y in ((dataset.x_train, dataset.y_train), (dataset.x_test, dataset.y_test)):
        assert np.array_equal(y, np.bitwise_xor.reduce(x[:, relevant].astype(int), axis=1))


@given(temperature=st.sampled_from([0.0, 0.5, 2.0]), seed=st.integers(0, 50))
def test_teacher_labels_follow_the_teacher(temperature, seed):
    data = load("teacher", temperature=temperature, num_train=300, num_test=300, seed=seed)
    logits = teacher_logits(data.x_test.astype(np.float64), data.extras["teacher"]) * 3.0
    if temperature == 0:
        assert np.array_equal(data.y_test, logits.argmax(axis=1))
        assert data.extras["label_entropy_bits"] == 0
    else:
        z = logits / temperature
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        entropy = float(-(probs * np.log2(probs)).sum())
        assert data.extras["label_entropy_bits"] == pytest.approx(entropy, rel=1e-9)


LANGUAGE_REGEX = {
    "anbn": lambda s: bool(re.fullmatch(r"(a+)(b+)", s)) and s.count("a") == s.count("b"),
    "anbncn": lambda s: (
        bool(re.fullmatch(r"(a+)(b+)(c+)", s)) and s.count("a") == s.count("b") == s.count("c")
    ),
}


def is_dyck(s: str) -> bool:
    depth = 0
    for c in s:
        depth += 1 if c == "(" else -1
        if depth < 0:
            return False
    return depth == 0 and len(s) > 0


def member(language):
    return is_dyck if language == "dyck1" else LANGUAGE_REGEX[language]


@functools.cache
def word_prefixes(language: str, letters: str, max_length: int = 12) -> tuple[set, set]:
    """All words of the language up to ``max_length`` by exhaustive enumeration and the
    membership test above (independent of the generator's logic), and all their prefixes."""
    words = {
        "".join(chars)
        for length in range(1, max_length + 1)
        for chars in itertools.product(letters, repeat=length)
        if member(language)("".join(chars))
    }
    prefixes = {w[:t] for w in words for t in range(len(w) + 1)}
    return words, prefixes


def brute_force_allowed(language, prefix: str, letters: str) -> set[str]:
    """Symbols that continue ``prefix`` towards some word (``#`` iff the prefix is a word)."""
    words, prefixes = word_prefixes(language, letters)
    allowed = {c for c in letters if prefix + c in prefixes}
    return allowed | ({"#"} if prefix in words else set())


@pytest.mark.parametrize("language", ["anbn", "anbncn", "dyck1"])
@given(seed=st.integers(0, 10_000))
def test_strings_are_well_formed_and_next_symbol_sets_are_correct(language, seed):
    data = load_formal_language(language, num_train=4, max_n=3, test_max_n=3, num_test=2, seed=seed)
    alphabet = data.extras["alphabet"]
    letters = alphabet[1:]
    for split in ("train", "test"):
        strings = data.extras[f"strings_{split}"]
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        mask, allowed = data.extras[f"mask_{split}"], data.extras[f"allowed_next_{split}"]
        for i, s in enumerate(strings):
            assert member(language)(s), s
            framed = "#" + s + "#"
            n = len(framed) - 1
            assert "".join(alphabet[t] for t in x[i, :n]) == framed[:-1]
            assert "".join(alphabet[t] for t in y[i, :n]) == framed[1:]
            assert mask[i].sum() == n and not allowed[i, n:].any()
            for t in range(n):
                got = {alphabet[k] for k in np.flatnonzero(allowed[i, t])}
                assert alphabet[y[i, t]] in got  # the observed next symbol is always allowed
                if len(s) <= 8:
                    assert got == brute_force_allowed(language, s[:t], letters), (s, t)


def test_allowed_next_direct_examples():
    assert allowed_next("anbn", "aabb") == [{"a"}, {"a", "b"}, {"a", "b"}, {"b"}, {"#"}]
    assert allowed_next("dyck1", "()") == [{"("}, {"(", ")"}, {"(", "#"}]


def test_text_splits_are_contiguous_windows(kjv_path):
    data = load_text(kjv_path, context=64, max_symbols=200_000)
    alphabet = data.extras["alphabet"]
    assert data.num_classes == len(alphabet) == 73  # the shared data README's count
    text = kjv_path.read_text()[:200_000]
    first = "".join(alphabet[i] for i in data.x_train[0])
    assert first == text[:64]
    assert "".join(alphabet[i] for i in data.y_train[0]) == text[1:65]
    assert data.extras["split_symbols"] == {"train": 180_000, "valid": 10_000, "test": 10_000}
    test_start = 190_000
    assert "".join(alphabet[i] for i in data.x_test[0]) == text[test_start : test_start + 64]
    byte_level = load_text(kjv_path, level="byte", context=32, max_symbols=5_000)
    assert byte_level.num_classes == len(byte_level.extras["alphabet"])


def test_text_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="text corpus not found"):
        load_text(tmp_path / "none.txt")
    (tmp_path / "t.txt").write_text("abc" * 10)
    with pytest.raises(ValueError, match="level must be"):
        load_text(tmp_path / "t.txt", level="word")
    with pytest.raises(ValueError, match="shorter than one window"):
        load_text(tmp_path / "t.txt", context=64)


def test_batches_are_seeded_fixed_shape_and_jittable():
    x = np.arange(103 * 2, dtype=np.float32).reshape(103, 2)
    y = np.arange(103)
    key = jax.random.key(3)
    xb, yb = batches(key, x, y, 10)
    assert xb.shape == (10, 10, 2) and yb.shape == (10, 10)
    assert len(set(np.asarray(yb).ravel().tolist())) == 100  # no example twice in an epoch
    np.testing.assert_array_equal(np.asarray(xb[..., 0]) / 2, np.asarray(yb))  # pairs stay paired
    jitted = jax.jit(batches, static_argnums=3)(key, x, y, 10)
    np.testing.assert_array_equal(np.asarray(jitted[1]), np.asarray(yb))
    other = batches(jax.random.key(4), x, y, 10)[1]
    assert not np.array_equal(np.asarray(other), np.asarray(yb))
    seeds = jax.vmap(lambda k: batches(k, x, y, 10)[1])(jax.random.split(key, 3))
    assert seeds.shape == (3, 10, 10)
    full_x, _ = batches(key, x, y)
    assert full_x.shape == (1, 103, 2)
    with pytest.raises(ValueError, match="batch_size must be an integer in"):
        batches(key, x, y, 0)
    with pytest.raises(ValueError, match="x has 103 examples but y has 5"):
        batches(key, x, y[:5], 4)


@settings(max_examples=40)
@given(
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
    st.integers(0, 10_000),
    st.floats(0.05, 0.95),
)
def test_dyck_string_bits_is_the_law_by_block_decomposition(block_sizes, seed, p):
    """A Dyck-1 string is a sequence of j primitive blocks (a bracket enclosing a Dyck word); a
    block of 2m symbols has 2m - 1 coin flips after its forced first bracket, so under the
    training law P = p (1 - p)^(j - 1) prod_b 2^-(2 m_b - 1), independently of the symbol-by-
    symbol computation under test. For a^n b^n: -log2 of p (1 - p)^(n - 1)."""
    from mdl.data.formal_languages import string_bits

    rng = np.random.default_rng(seed)

    def dyck_word(pairs):  # a random Dyck word with `pairs` bracket pairs
        word, depth, opened = [], 0, 0
        while len(word) < 2 * pairs:
            if opened < pairs and (depth == 0 or rng.random() < 0.5):
                word.append("(")
                depth, opened = depth + 1, opened + 1
            else:
                word.append(")")
                depth -= 1
        return "".join(word)

    string = "".join("(" + dyck_word(m - 1) + ")" for m in block_sizes)
    expected = -math.log2(p) - (len(block_sizes) - 1) * math.log2(1 - p)
    expected += sum(2 * m - 1 for m in block_sizes)
    assert string_bits("dyck1", string, p) == pytest.approx(expected, rel=1e-12)
    n = len(string) // 2
    assert string_bits("anbn", "a" * n + "b" * n, p) == pytest.approx(
        -math.log2(p * (1 - p) ** (n - 1)), rel=1e-12
    )
    with pytest.raises(ValueError, match="not"):
        string_bits("dyck1", string + ")", p)
