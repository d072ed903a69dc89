"""A text corpus from a file, as character- or byte-level next-symbol prediction."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mdl.data.dataset import Dataset


def load_text(
    path: str | os.PathLike,
    level: str = "char",
    context: int = 128,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    max_symbols: int | None = None,
) -> Dataset:
    r"""Split a corpus into contiguous train / valid / test parts, in that order, and cut each
    into non-overlapping windows of ``context + 1`` symbols: ``x = w[:-1]``, ``y = w[1:]``.

    Contiguous splits (not shuffled windows) keep test text unseen, as in language-model
    compression benchmarks. The alphabet is that of the whole file (sorted), so every split is
    codable; it is ``extras["alphabet"]`` (a string for ``char``, a list of byte values for
    ``byte``). Valid windows are ``extras["x_valid"]``/``["y_valid"]``. ``max_symbols`` reads
    only the first symbols (for quick runs). A relative ``path`` that does not exist is looked
    up under ``$MDL_DATA``.

    Symbols are the file's distinct characters (``char``, UTF-8) or bytes (``byte``),
    numbered in sorted order. Of $n$ symbols, the last $\lfloor n f_{\text{test}} \rfloor$
    are test and the $\lfloor n f_{\text{valid}} \rfloor$ before them valid ($f$ the
    fractions below); each part's remainder after its last whole window is dropped.

    Args:
      path: the corpus file.
      level: ``"char"`` or ``"byte"``.
      context: the window's input length (each window holds ``context + 1`` symbols).
      valid_fraction: the valid share, $\ge 0$.
      test_fraction: the test share, $> 0$ (the two sum below 1).
      max_symbols: read only the first this many symbols (None: all).

    Returns:
      A `Dataset` with ``x``, ``y`` int32 ``[windows, context]`` and as many classes as the
      alphabet has symbols.

    Raises:
      FileNotFoundError: when the file is not found (also under ``$MDL_DATA``).
      ValueError: for non-UTF-8 text at ``char`` level, bad fractions, or a train or test
        split shorter than one window.
    """
    if level not in ("char", "byte"):
        raise ValueError(f"level must be 'char' or 'byte'; got {level!r}")
    if context < 1:
        raise ValueError(f"context must be >= 1; got {context}")
    if valid_fraction < 0 or test_fraction <= 0 or valid_fraction + test_fraction >= 1:
        raise ValueError("need valid_fraction >= 0, test_fraction > 0, and their sum < 1")
    path = Path(path)
    if not path.is_file() and not path.is_absolute() and os.environ.get("MDL_DATA"):
        # A relative path names a file under $MDL_DATA when it is not found from here, so a
        # config can say "text/kjv.txt" on every machine.
        path = Path(os.environ["MDL_DATA"]) / path
    if not path.is_file():
        raise FileNotFoundError(f"text corpus not found: {path} (also looked under $MDL_DATA)")
    raw = path.read_bytes()
    if level == "char":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is not UTF-8 text; use level='byte'") from error
        alphabet = "".join(sorted(set(text)))
        lookup = {c: i for i, c in enumerate(alphabet)}
        codes = np.fromiter((lookup[c] for c in text), dtype=np.int32, count=len(text))
        alphabet_record: object = alphabet
    else:
        values = np.frombuffer(raw, dtype=np.uint8)
        present = np.unique(values)
        remap = np.zeros(256, np.int32)
        remap[present] = np.arange(len(present))
        codes = remap[values]
        alphabet_record = present.tolist()
    if max_symbols is not None:
        codes = codes[:max_symbols]
    n = len(codes)
    n_test, n_valid = int(n * test_fraction), int(n * valid_fraction)
    parts = {
        "train": codes[: n - n_valid - n_test],
        "valid": codes[n - n_valid - n_test : n - n_test],
        "test": codes[n - n_test :],
    }
    windows = {}
    for name, part in parts.items():
        count = len(part) // (context + 1)
        if count == 0 and name != "valid":
            raise ValueError(f"the {name} split ({len(part)} symbols) is shorter than one window")
        w = part[: count * (context + 1)].reshape(count, context + 1)
        windows[name] = (w[:, :-1], w[:, 1:])
    return Dataset(
        *windows["train"],
        *windows["test"],
        num_classes=len(alphabet_record),
        input_shape=(context,),
        source=f"{level}-level text from {path} ({n} symbols)",
        extras={
            "alphabet": alphabet_record,
            "x_valid": windows["valid"][0],
            "y_valid": windows["valid"][1],
            "split_symbols": {k: len(v) for k, v in parts.items()},
        },
    )
