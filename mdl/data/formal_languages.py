"""Formal languages as next-symbol prediction: a^n b^n, a^n b^n c^n and Dyck-1.

Each string is framed by the boundary symbol ``#`` (``#aabb#``); a model reads ``#aabb`` and
predicts ``aabb#``. Beside the targets, every position records the *set* of symbols the
language allows next, so a model can be scored by whether it puts its mass on allowed symbols
only (deterministic accuracy, as in Lan, Geyer, Chemla, Katzir, "Minimum description length
recurrent neural networks", TACL 2022), not merely on the one symbol this sample happened to use.

Arrays: ``x``/``y`` are int64 ``[num_strings, L]`` padded with ``#`` (index 0) after the end;
``extras["mask_train"]``/``["mask_test"]`` mark real positions, ``extras["allowed_next_train"]``
/``["allowed_next_test"]`` are bool ``[num_strings, L, V]``, ``extras["alphabet"]`` the symbols.
"""

from __future__ import annotations

import math

import numpy as np

from mdl.data.dataset import Dataset

LANGUAGES = ("anbn", "anbncn", "dyck1")
ALPHABETS = {"anbn": "#ab", "anbncn": "#abc", "dyck1": "#()"}


def counting_string(language: str, n: int) -> str:
    return "a" * n + "b" * n + ("c" * n if language == "anbncn" else "")


def allowed_next(language: str, string: str) -> list[set[str]]:
    """For ``#string``, the set of symbols allowed after each prefix ``#``, ``#s1``, ...

    Derived from the grammar: a^n b^n (n >= 1) and a^n b^n c^n allow ``a`` or ``b`` while reading
    a's, then are deterministic; Dyck-1 allows ``(`` always, ``)`` inside, ``#`` at depth 0.
    """
    sets = []
    if language == "dyck1":
        depth = 0
        sets.append({"("})
        for symbol in string:
            depth += 1 if symbol == "(" else -1
            sets.append({"(", ")"} if depth > 0 else {"(", "#"})
        return sets
    n = string.count("a")
    blocks = "abc" if language == "anbncn" else "ab"
    sets.append({"a"})
    for t in range(1, len(string) + 1):
        prefix = string[:t]
        if prefix[-1] == "a":
            sets.append({"a", "b"})
            continue
        counts = {s: prefix.count(s) for s in blocks}
        current = prefix[-1]
        if counts[current] < n:
            sets.append({current})
        else:
            following = blocks.index(current) + 1
            sets.append({blocks[following]} if following < len(blocks) else {"#"})
    return sets


def string_bits(language: str, string: str, p: float) -> float:
    r"""``-log2`` of the probability of ``string`` under the law `load_formal_language` draws
    training strings from (without its length cap): the cross-entropy floor of any model of
    that law, and ``0`` bits for every symbol a language determines.

    Counting languages: $n \sim \mathrm{Geometric}(p)$, $n \ge 1$, so
    $-\log_2 p - (n - 1) \log_2 (1 - p)$. Dyck-1: at depth 0 a non-empty string stops with
    probability $p$ (opens otherwise), the empty string opens, and inside either bracket has
    probability 1/2.

    Args:
      language: ``"anbn"``, ``"anbncn"`` or ``"dyck1"``.
      string: a string of the language (without the ``#`` frame).
      p: the law's parameter, in $(0, 1)$.

    Returns:
      Bits (a Python float).
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}; got {language!r}")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1); got {p}")
    if language != "dyck1":
        n = string.count("a")
        if n < 1 or string != counting_string(language, n):
            raise ValueError(f"{string!r} is not a string of {language} with n >= 1")
        return -math.log2(p) - (n - 1) * math.log2(1 - p)
    bits, depth = 0.0, 0
    for t, symbol in enumerate(string):
        if depth == 0:
            bits -= math.log2(1 - p) if t else 0.0
        else:
            bits += 1.0
        depth += 1 if symbol == "(" else -1
        if depth < 0:
            raise ValueError(f"{string!r} is not a Dyck-1 string")
    if depth != 0 or not string:
        raise ValueError(f"{string!r} is not a non-empty Dyck-1 string")
    return bits - math.log2(p)


def _dyck_string(rng: np.random.Generator, p_end: float, max_length: int) -> str:
    symbols, depth = [], 0
    while True:
        if depth == 0 and symbols and rng.random() < p_end:
            return "".join(symbols)
        if depth == 0:
            opening = True
        elif len(symbols) + depth >= max_length - 1:
            opening = False  # close what is open so the string fits
        else:
            opening = rng.random() < 0.5
        symbols.append("(" if opening else ")")
        depth += 1 if opening else -1
        if depth == 0 and len(symbols) >= max_length - 1:
            return "".join(symbols)


def encode_strings(language: str, strings: list[str], length: int):
    """``(x, y, mask, allowed)`` for ``strings`` of ``language`` framed by ``#`` and padded with
    ``#`` to ``length`` positions (at least the longest string + 1): inputs, targets, real
    positions and the allowed-next-symbol sets, as `load_formal_language` lays them out."""
    if any(len(s) + 1 > length for s in strings):
        raise ValueError(f"length {length} is shorter than the longest framed string")
    alphabet = ALPHABETS[language]
    index = {s: i for i, s in enumerate(alphabet)}
    n = len(strings)
    x = np.zeros((n, length), np.int64)
    y = np.zeros((n, length), np.int64)
    mask = np.zeros((n, length), bool)
    allowed = np.zeros((n, length, len(alphabet)), bool)
    for i, string in enumerate(strings):
        framed = [index[s] for s in "#" + string + "#"]
        x[i, : len(framed) - 1] = framed[:-1]
        y[i, : len(framed) - 1] = framed[1:]
        mask[i, : len(framed) - 1] = True
        for t, options in enumerate(allowed_next(language, string)):
            allowed[i, t, [index[s] for s in options]] = True
    return x, y, mask, allowed


def load_formal_language(
    language: str = "anbn",
    num_train: int = 1000,
    p: float = 0.3,
    max_n: int = 30,
    test_max_n: int = 60,
    num_test: int = 500,
    seed: int = 0,
) -> Dataset:
    """Strings of ``language`` for next-symbol prediction.

    Train: ``num_train`` strings with ``n ~ Geometric(p)`` (``n >= 1``, at most ``max_n``;
    for Dyck-1, ``p`` is the chance of stopping at depth 0 and ``2 * max_n`` bounds the length).
    Test: for the counting languages every ``n = 1..test_max_n`` once (generalization beyond the
    training lengths); for Dyck-1, ``num_test`` strings up to length ``2 * test_max_n``.

    Args:
      language: ``"anbn"``, ``"anbncn"`` or ``"dyck1"``.
      num_train: training strings.
      p: the geometric parameter (Dyck-1: the chance of stopping at depth 0), in $(0, 1)$.
      max_n: the largest training ``n``.
      test_max_n: the largest test ``n``.
      num_test: Dyck-1 test strings.
      seed: the strings' seed.

    Returns:
      A `Dataset` of token sequences (the module doc gives the arrays and ``extras``).

    References:
      F. A. Gers, J. Schmidhuber, "LSTM recurrent networks learn simple context-free and
      context-sensitive languages", IEEE Transactions on Neural Networks, 2001.
    """
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}; got {language!r}")
    if not 0 < p < 1 or num_train < 1 or max_n < 1 or test_max_n < 1:
        raise ValueError("need 0 < p < 1 and num_train, max_n, test_max_n >= 1")
    rng = np.random.default_rng(seed)
    if language == "dyck1":
        train = [_dyck_string(rng, p, 2 * max_n) for _ in range(num_train)]
        test = [_dyck_string(rng, p / 2, 2 * test_max_n) for _ in range(num_test)]
    else:
        ns = np.minimum(rng.geometric(p, size=num_train), max_n)
        train = [counting_string(language, int(n)) for n in ns]
        test = [counting_string(language, n) for n in range(1, test_max_n + 1)]
    length = max(len(s) for s in train + test) + 1
    x_train, y_train, mask_train, allowed_train = encode_strings(language, train, length)
    x_test, y_test, mask_test, allowed_test = encode_strings(language, test, length)
    return Dataset(
        x_train,
        y_train,
        x_test,
        y_test,
        num_classes=len(ALPHABETS[language]),
        input_shape=(length,),
        source=f"formal language {language}, p={p}, max_n={max_n}, seed {seed}",
        extras={
            "alphabet": ALPHABETS[language],
            "mask_train": mask_train,
            "mask_test": mask_test,
            "allowed_next_train": allowed_train,
            "allowed_next_test": allowed_test,
            "strings_train": train,
            "strings_test": test,
        },
    )
