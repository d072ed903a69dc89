"""Data sets as numpy arrays: ``mdl.data.load(name, **options)``; offline unless asked.

=================  ==========================================================================
name               what
=================  ==========================================================================
``digits``         scikit-learn's 8x8 digits, seeded 70/30 split (the demo's default)
``mnist``          MNIST IDX files (search order below); ``download=True`` fetches them
``fashion_mnist``  Fashion-MNIST, likewise; also found in ``/usr/share/datasets/fashion-mnist``
``mnist1d``        MNIST-1D generated from its templates (Greydanus 2020), 4,000 / 1,000
``modular``        ``(a op b) mod p``, the grokking setting
``sparse_parity``  parity of k hidden bits of n
``teacher``        labels from a random teacher network (known label entropy)
``anbn``           a^n b^n next-symbol prediction, with allowed-next sets
``anbncn``         a^n b^n c^n, likewise
``dyck1``          Dyck-1 (balanced parentheses), likewise
``text``           a character- or byte-level corpus from ``path``
=================  ==========================================================================

Test accuracies measured by the smoke tests (``tests/data/test_learnability.py``: Adam 1e-3,
about 1,500 minibatches of 128, at most the first 10,000 training examples, full test sets,
seed 0, one run on 2 CPU cores). They are smoke-test figures, not tuned results:

=================  ====================  ==========================
data set           logistic regression   MLP, one hidden layer (128)
=================  ====================  ==========================
digits             93.1%                 97.4%
mnist              91.3%                 94.9%
fashion_mnist      82.7%                 85.0%
mnist1d            31.6%                 56.6%
=================  ====================  ==========================

(MNIST-1D's paper reports 32% for logistic regression and 68% for an MLP trained longer.)

Where ``mnist`` and ``fashion_mnist`` look for their four IDX files (raw or ``.gz``): in
``root=`` only, when it is given (a root without the files is an error naming it); otherwise in
``$MDL_DATA/<name>``, then the download cache ``~/.cache/mdl/<name>`` (``$XDG_CACHE_HOME/mdl``
if set), then, for Fashion-MNIST, Debian's ``/usr/share/datasets/fashion-mnist``.

Nothing touches the network unless ``download=True``: then missing files are fetched into
``root``, else ``$MDL_DATA/<name>``, else the cache folder, from ``url=`` or ``$MDL_MNIST_URL``
/ ``$MDL_FASHION_MNIST_URL`` (a base URL serving ``<stem>.gz``), else the official mirrors
(``mdl.data.idx.URLS``). Each file's md5 is checked before it is written, atomically; a failed
download raises (``DownloadError``, or ``DataFileError`` for a wrong md5) naming the URL and the
file, and leaves nothing behind. Files already present are not fetched again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mdl.data.batches import batches
from mdl.data.class_subset import with_classes
from mdl.data.dataset import Dataset
from mdl.data.digits import load_digits
from mdl.data.download import DownloadError
from mdl.data.formal_languages import load_formal_language
from mdl.data.idx import DataFileError, load_fashion_mnist, load_mnist
from mdl.data.mnist1d import load_mnist1d
from mdl.data.shift import random_shift
from mdl.data.synthetic import load_modular_arithmetic, load_sparse_parity, load_teacher_student
from mdl.data.text import load_text
from mdl.data.validation import validation_split, without_test

LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "mnist1d": load_mnist1d,
    "modular": load_modular_arithmetic,
    "sparse_parity": load_sparse_parity,
    "teacher": load_teacher_student,
    "anbn": partial(load_formal_language, "anbn"),
    "anbncn": partial(load_formal_language, "anbncn"),
    "dyck1": partial(load_formal_language, "dyck1"),
    "text": load_text,
}
"""The data sets `load` knows: name -> loader function (keyword arguments pass through)."""


def load(name: str, **options) -> Dataset:
    """Load data set ``name`` (one of ``LOADERS``) with that loader's keyword options.

    Args:
      name: a key of ``LOADERS`` (the table in the module doc).
      **options: keyword arguments of that loader.

    Returns:
      The loader's `Dataset`; its references are in each loader's docstring.

    Raises:
      ValueError: for an unknown ``name``.
    """
    loader = LOADERS.get(name)
    if loader is None:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(LOADERS))}")
    return loader(**options)


__all__ = [
    "LOADERS",
    "DataFileError",
    "Dataset",
    "DownloadError",
    "batches",
    "load",
    "load_digits",
    "load_fashion_mnist",
    "load_formal_language",
    "load_mnist",
    "load_mnist1d",
    "load_modular_arithmetic",
    "load_sparse_parity",
    "load_teacher_student",
    "load_text",
    "random_shift",
    "validation_split",
    "with_classes",
    "without_test",
]
