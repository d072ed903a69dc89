"""MNIST-format (IDX) image sets: MNIST (LeCun, Cortes, Burges 1998) and Fashion-MNIST
(Xiao, Rasul, Vollgraf 2017), read from local files, gzipped or raw.

Files are looked for, in order, in the ``root`` argument, in ``$MDL_DATA/<name>``, and (for
Fashion-MNIST) in ``/usr/share/datasets/fashion-mnist`` where Debian's
``dataset-fashion-mnist`` package installs them. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np

from mdl.data.dataset import Dataset

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
_MAGIC = {3: 0x00000803, 1: 0x00000801}  # unsigned bytes, 3 or 1 dimensions


class DataFileError(ValueError):
    """An IDX file that is missing, truncated or not what its name says."""


def candidate_dirs(name: str, root: str | os.PathLike | None) -> list[Path]:
    dirs = []
    if root is not None:
        dirs.append(Path(root))
    if os.environ.get("MDL_DATA"):
        dirs.append(Path(os.environ["MDL_DATA"]) / name)
    dirs.extend(SYSTEM_DIRS.get(name, []))
    return dirs


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
    name: str, root=None, *, check_md5: bool = False, flatten: bool = False
) -> Dataset:
    """Load ``name`` ("mnist" or "fashion_mnist"): uint8 pixels scaled to float32 in [0, 1].

    Args:
      root: folder holding the four files (``*-ubyte`` or ``*-ubyte.gz``).
      check_md5: also compare the decompressed files with the known md5 sums.
      flatten: images as ``[n, 784]`` instead of ``[n, 28, 28]``.
    """
    dirs = candidate_dirs(name, root)
    paths = {key: find_file(stem, dirs) for key, stem in FILES.items()}
    missing = [FILES[key] for key, path in paths.items() if path is None]
    if missing:
        looked = ", ".join(str(d) for d in dirs) or "nowhere (pass root= or set MDL_DATA)"
        raise FileNotFoundError(
            f"{name}: missing {', '.join(missing)} (raw or .gz); looked in: {looked}"
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


def load_mnist(root=None, *, check_md5: bool = False, flatten: bool = False) -> Dataset:
    """MNIST, 60,000 train / 10,000 test 28x28 digits. See :func:`load_idx_dataset`."""
    return load_idx_dataset("mnist", root, check_md5=check_md5, flatten=flatten)


def load_fashion_mnist(root=None, *, check_md5: bool = False, flatten: bool = False) -> Dataset:
    """Fashion-MNIST, 60,000 / 10,000 28x28 clothing images. See :func:`load_idx_dataset`."""
    return load_idx_dataset("fashion_mnist", root, check_md5=check_md5, flatten=flatten)
