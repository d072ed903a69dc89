"""MNIST-format (IDX) image sets: MNIST (LeCun, Cortes, Burges 1998) and Fashion-MNIST
(Xiao, Rasul, Vollgraf 2017), read from local files, gzipped or raw.

Where the four files are looked for (each as ``<stem>`` or ``<stem>.gz``):

1. ``root``, when given, and only there: an explicit root that lacks a file is an error
   naming that root, never a silent fall-back elsewhere;
2. otherwise, in order: ``$MDL_DATA/<name>`` (if ``MDL_DATA`` is set), the download cache
   ``~/.cache/mdl/<name>`` (``$XDG_CACHE_HOME/mdl/<name>`` if that is set), and for
   Fashion-MNIST ``/usr/share/datasets/fashion-mnist``, where Debian's
   ``dataset-fashion-mnist`` package installs it.

Nothing touches the network unless ``download=True``. Then the files missing from every place
above are fetched as ``<stem>.gz`` into the first of ``root``, ``$MDL_DATA/<name>``, the cache
folder, from the base URL given as ``url=``, else from ``$MDL_MNIST_URL`` /
``$MDL_FASHION_MNIST_URL``, else from the mirrors in ``URLS``, tried in order. Each file is
checked against the md5 of its decompressed content before it is written (atomically, see
`mdl.data.download`), so any gzip encoding of the official files is accepted, and a
refused or failed download leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np

from mdl.data.dataset import Dataset
from mdl.data.download import cache_dir
from mdl.data.download import download as download_checked

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# md5 of the *decompressed* files. MNIST: the published sums. Fashion-MNIST publishes sums of
# its .gz files only; these are of the decompressed files from Debian's dataset-fashion-mnist
# (0.0~git20200523.55506a9-1), whose .gz headers differ from upstream but whose content does not.
MD5 = {
    "mnist": {
        "x_train": "6bbc9ace898e44ae57da46a324031adb",
        "y_train": "a25bea736e30d166cdddb491f175f624",
        "x_test": "2646ac647ad5339dbf082846283269ea",
        "y_test": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "x_train": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "y_train": "9018921c3c673c538a1fc5bad174d6f9",
        "x_test": "8181f5470baa50b63fa0f6fddb340f0a",
        "y_test": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
COUNTS = {"x_train": 60_000, "y_train": 60_000, "x_test": 10_000, "y_test": 10_000}
SYSTEM_DIRS = {"fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")]}
# Base URLs serving ``<stem>.gz``, tried in order. MNIST: the PyTorch mirror of the original
# files (yann.lecun.com often refuses scripts), then the original site. Fashion-MNIST: the
# authors' bucket, then the copy Keras downloads.
URLS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
}
URL_ENV = {"mnist": "MDL_MNIST_URL", "fashion_mnist": "MDL_FASHION_MNIST_URL"}
_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned bytes, 3 or 1 dimensions


class DataFileError(ValueError):
    """An IDX file that is truncated, malformed, or not what its name says (md5)."""


def candidate_dirs(name: str, root: str | os.PathLike | None) -> list[Path]:
    """Where to look, in order: ``root`` alone if given, else MDL_DATA, the cache, the system."""
    if root is not None:
        return [Path(root)]
    dirs = []
    if os.environ.get("MDL_DATA"):
        dirs.append(Path(os.environ["MDL_DATA"]) / name)
    dirs.append(cache_dir() / name)
    dirs.extend(SYSTEM_DIRS.get(name, []))
    return dirs


def download_dir(name: str, root: str | os.PathLike | None) -> Path:
    """Where ``download=True`` writes: ``root``, else ``$MDL_DATA/<name>``, else the cache."""
    if root is not None:
        return Path(root)
    if os.environ.get("MDL_DATA"):
        return Path(os.environ["MDL_DATA"]) / name
    return cache_dir() / name


def base_urls(name: str, url: str | list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Base URLs to try: ``url`` (one or several), else ``$MDL_MNIST_URL`` (or
    ``$MDL_FASHION_MNIST_URL``), else the mirrors in ``URLS``; each ends in ``/``."""
    if url is None:
        url = os.environ.get(URL_ENV[name]) or None
    bases = URLS[name] if url is None else [url] if isinstance(url, str) else list(url)
    return [base if base.endswith("/") else base + "/" for base in bases]


def download_idx_file(name: str, key: str, directory: Path, url=None) -> Path:
    """Fetch ``FILES[key].gz`` into ``directory``, refusing it unless its decompressed md5 is
    the known one; returns the written path. Raises ``DownloadError`` (mdl.data.download) when
    no base URL delivers it, `DataFileError` when the bytes are not the file."""
    filename = f"{FILES[key]}.gz"
    target = directory / filename
    bases = base_urls(name, url)

    def check(data: bytes, source: str) -> None:
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise DataFileError(
                f"{source}: {filename} is not a complete gzip file ({error}); "
                f"nothing was written to {target}"
            ) from error
        digest = hashlib.md5(raw).hexdigest()
        if digest != MD5[name][key]:
            raise DataFileError(
                f"{source}: {filename} has md5 {digest} (decompressed), expected "
                f"{MD5[name][key]}; nothing was written to {target}"
            )

    names = ", ".join(f"{stem}.gz" for stem in FILES.values())
    manual = (
        f"To get the {name} files by hand, download {names} "
        f"from {' or '.join(URLS[name])} into {directory}, or set "
        f"{URL_ENV[name]} (or pass url=) to a mirror that serves them."
    )
    return download_checked([base + filename for base in bases], target, check, manual=manual)


def find_file(stem: str, dirs: list[Path]) -> Path | None:
    for directory in dirs:
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_idx(path: Path, ndim: int, expected_count: int | None = None) -> tuple[np.ndarray, bytes]:
    """Parse one IDX file of unsigned bytes; returns (array, decompressed bytes)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataFileError(f"{path}: cannot be read or decompressed ({error})") from error
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated, {len(raw)} bytes is shorter than the IDX header")
    (magic,) = struct.unpack_from(">I", raw, 0)
    if magic != _MAGIC[ndim]:
        raise DataFileError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{_MAGIC[ndim]:08x} "
            f"(unsigned bytes, {ndim} dimension(s))"
        )
    shape = struct.unpack_from(f">{ndim}I", raw, 4)
    if expected_count is not None and shape[0] != expected_count:
        raise DataFileError(f"{path}: holds {shape[0]} items, expected {expected_count}")
    if ndim == 3 and shape[1:] != (28, 28):
        raise DataFileError(f"{path}: images are {shape[1]}x{shape[2]}, expected 28x28")
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise DataFileError(
            f"{path}: truncated or padded, {len(raw) - header} data bytes for shape {shape} "
            f"({size} expected)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape), raw


def load_idx_dataset(
    name: str,
    root=None,
    *,
    check_md5: bool = False,
    flatten: bool = False,
    download: bool = False,
    url: str | list[str] | tuple[str, ...] | None = None,
) -> Dataset:
    """Load ``name`` ("mnist" or "fashion_mnist"): uint8 pixels scaled to float32 in [0, 1].

    Args:
      root: folder holding the four files (``*-ubyte`` or ``*-ubyte.gz``); when given, the
        only place looked in (see the module doc for the search order without it).
      check_md5: also compare the decompressed files with the known md5 sums (downloaded
        files are always checked before they are written).
      flatten: images as ``[n, 784]`` instead of ``[n, 28, 28]``.
      download: fetch the files found nowhere into ``root``, else ``$MDL_DATA/<name>``, else
        ``~/.cache/mdl/<name>``. Without it the network is never touched.
      url: base URL (or URLs, tried in order) to download from; default ``$MDL_MNIST_URL`` /
        ``$MDL_FASHION_MNIST_URL``, else the mirrors in ``URLS``.

    Raises:
      FileNotFoundError: files missing and ``download`` is false (names every place looked).
      DownloadError: no URL delivered a missing file (``mdl.data.download.DownloadError``, an
        ``OSError``); names each URL with its failure, and how to get the files by hand.
      DataFileError: a file that is truncated, malformed, or fails its md5 sum.
    """
    if name not in MD5:
        raise ValueError(f"unknown IDX data set {name!r}; known: {', '.join(sorted(MD5))}")
    dirs = candidate_dirs(name, root)
    paths = {key: find_file(stem, dirs) for key, stem in FILES.items()}
    missing = [key for key, path in paths.items() if path is None]
    if missing and download:
        target = download_dir(name, root)
        for key in missing:
            paths[key] = download_idx_file(name, key, target, url)
    elif missing:
        looked = ", ".join(str(d) for d in dirs)
        raise FileNotFoundError(
            f"{name}: missing {', '.join(FILES[key] for key in missing)} (raw or .gz); "
            f"looked in: {looked}. Pass download=True to fetch them into "
            f"{download_dir(name, root)}, or put the files there."
        )
    arrays = {}
    for key, path in paths.items():
        array, raw = read_idx(path, 3 if key.startswith("x") else 1, COUNTS[key])
        if check_md5:
            digest = hashlib.md5(raw).hexdigest()
            if digest != MD5[name][key]:
                raise DataFileError(
                    f"{path}: md5 {digest} of the decompressed file, expected {MD5[name][key]}"
                )
        if key.startswith("y") and array.max() > 9:
            raise DataFileError(f"{path}: label {array.max()} out of range 0..9")
        arrays[key] = array
    images = {k: (arrays[k].astype(np.float32) / 255.0) for k in ("x_train", "x_test")}
    if flatten:
        images = {k: v.reshape(len(v), -1) for k, v in images.items()}
    return Dataset(
        images["x_train"],
        arrays["y_train"].astype(np.int64),
        images["x_test"],
        arrays["y_test"].astype(np.int64),
        num_classes=10,
        input_shape=images["x_train"].shape[1:],
        source=f"{name} IDX files in {paths['x_train'].parent}",
    )


def load_mnist(
    root=None, *, check_md5: bool = False, flatten: bool = False, download: bool = False, url=None
) -> Dataset:
    """MNIST, 60,000 train / 10,000 test 28x28 digits. See `load_idx_dataset`.

    Pixels are uint8 values divided by 255 (float32 in $[0, 1]$), labels int64 in 0..9.
    Arguments, search order, download and errors as in `load_idx_dataset`.

    Returns:
      A `Dataset` with 10 classes and ``input_shape`` ``(28, 28)`` (``(784,)`` when
      ``flatten``).

    References:
      Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
      document recognition", Proceedings of the IEEE, 1998.
    """
    return load_idx_dataset(
        "mnist", root, check_md5=check_md5, flatten=flatten, download=download, url=url
    )


def load_fashion_mnist(
    root=None, *, check_md5: bool = False, flatten: bool = False, download: bool = False, url=None
) -> Dataset:
    """Fashion-MNIST, 60,000 / 10,000 28x28 clothing images. See `load_idx_dataset`.

    Pixels are uint8 values divided by 255 (float32 in $[0, 1]$), labels int64 in 0..9.
    Arguments, search order, download and errors as in `load_idx_dataset`.

    Returns:
      A `Dataset` with 10 classes and ``input_shape`` ``(28, 28)`` (``(784,)`` when
      ``flatten``).

    References:
      H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a novel image dataset for benchmarking
      machine learning algorithms", 2017.
    """
    return load_idx_dataset(
        "fashion_mnist", root, check_md5=check_md5, flatten=flatten, download=download, url=url
    )
