"""MNIST and Fashion-MNIST from IDX files: counts, checksums, and errors that say what is wrong."""

import gzip
import shutil

import numpy as np
import pytest

from mdl.data import DataFileError, load, load_mnist

MNIST_TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_counts_labels_and_md5(mnist_dir):
    data = load("mnist", root=mnist_dir, check_md5=True)
    assert data.x_train.shape == (60_000, 28, 28) and data.x_test.shape == (10_000, 28, 28)
    assert data.x_train.dtype == np.float32 and 0 <= data.x_train.min() and data.x_train.max() <= 1
    assert np.bincount(data.y_train).tolist() == MNIST_TRAIN_LABEL_COUNTS
    assert len(data.y_test) == 10_000 and data.num_classes == 10


def test_mnist_found_through_mdl_data(mnist_dir, monkeypatch):
    monkeypatch.setenv("MDL_DATA", str(mnist_dir.parent))
    assert load_mnist(flatten=True).x_test.shape == (10_000, 784)


def test_fashion_mnist_from_debian_package(fashion_dir, monkeypatch):
    monkeypatch.delenv("MDL_DATA", raising=False)
    data = load("fashion_mnist", check_md5=True)
    assert data.x_train.shape == (60_000, 28, 28)
    assert np.bincount(data.y_train).tolist() == [6000] * 10  # Fashion-MNIST is balanced


def copy_raw(mnist_dir, tmp_path):
    for gz in mnist_dir.glob("*.gz"):
        (tmp_path / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    return tmp_path


def test_raw_files_load_and_truncation_names_the_file(mnist_dir, tmp_path):
    root = copy_raw(mnist_dir, tmp_path)
    assert load_mnist(root).y_train.shape == (60_000,)
    labels = root / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-10])
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte: truncated"):
        load_mnist(root)


def test_wrong_magic_and_md5_are_reported(mnist_dir, tmp_path):
    root = copy_raw(mnist_dir, tmp_path)
    images = root / "train-images-idx3-ubyte"
    raw = bytearray(images.read_bytes())
    raw[1000] ^= 0xFF  # one pixel: only the md5 can tell
    images.write_bytes(bytes(raw))
    assert load_mnist(root).x_train.shape == (60_000, 28, 28)
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte: md5"):
        load_mnist(root, check_md5=True)
    raw[3] = 0x01  # magic 0x00000801 is a label file's
    images.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match="wrong magic number 0x00000801, expected 0x00000803"):
        load_mnist(root)


def test_missing_files_are_each_named_with_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MDL_DATA", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "mnist").mkdir()
    shutil.copy(__file__, tmp_path / "mnist" / "unrelated.txt")
    with pytest.raises(FileNotFoundError) as error:
        load_mnist(tmp_path / "mnist")
    message = str(error.value)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        assert stem in message
    # an explicit root is the only place looked in: no silent fall-back to $MDL_DATA
    assert f"looked in: {tmp_path / 'mnist'}." in message
    assert str(tmp_path / "elsewhere") not in message
    with pytest.raises(FileNotFoundError) as error:
        load_mnist()
    looked = f"{tmp_path / 'elsewhere' / 'mnist'}, {tmp_path / 'cache' / 'mdl' / 'mnist'}"
    assert f"looked in: {looked}." in str(error.value)


def test_unknown_data_set_is_refused():
    with pytest.raises(ValueError, match="unknown data set 'mnist2'; known: .*digits"):
        load("mnist2")
