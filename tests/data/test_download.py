"""``download=True``: MNIST fetched from a local HTTP server (copies of the shared files).

The server runs on 127.0.0.1 with an ephemeral port and serves from memory, so tests can
corrupt, withhold or cut off a file and count the requests. No test reaches the internet.
"""

import gzip
import http.server
import os
import socket
import threading
from collections import Counter

import numpy as np
import pytest

from mdl.data import DataFileError, DownloadError, load, load_mnist
from mdl.data.idx import FILES, URLS, base_urls, candidate_dirs, download_dir

GZ = [f"{stem}.gz" for stem in FILES.values()]  # download order: train images first


@pytest.fixture(scope="module")
def mnist_gz(mnist_dir):
    return {name: (mnist_dir / name).read_bytes() for name in GZ}


class Server:
    """Serves ``files`` (name -> bytes) under ``/mnist/``; counts GET requests per name."""

    def __init__(self, files):
        self.files = dict(files)
        self.requests = Counter()
        self.short = set()  # names sent with a Content-Length larger than the body
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.removeprefix("/mnist/")
                server.requests[name] += 1
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + 1000 * (name in server.short)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist"  # no trailing /
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(mnist_gz):
    server = Server(mnist_gz)
    yield server
    server.close()


@pytest.fixture
def dead_url():
    """A URL on a port where nothing listens: as good as no network."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No MDL_DATA, no URL override, and the download cache inside tmp_path."""
    monkeypatch.delenv("MDL_DATA", raising=False)
    monkeypatch.delenv("MDL_MNIST_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def assert_same(data, reference):
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert np.array_equal(getattr(data, field), getattr(reference, field)), field


def test_download_into_root_equals_the_shared_copy_and_is_not_refetched(
    server, dead_url, mnist_dir, tmp_path, no_env
):
    root = tmp_path / "root"
    # the first mirror does not answer; the second (the local server) does
    data = load("mnist", root=root, download=True, url=[dead_url, server.url])
    assert sorted(os.listdir(root)) == sorted(GZ)  # no temp files left over
    assert server.requests == dict.fromkeys(GZ, 1)
    assert_same(data, load("mnist", root=mnist_dir))
    assert data.source == f"mnist IDX files in {root}"

    again = load("mnist", root=root, download=True, url=server.url, check_md5=True)
    assert server.requests == dict.fromkeys(GZ, 1)  # found on disk: nothing fetched
    assert_same(again, data)


def test_env_url_downloads_into_the_cache_which_is_then_searched(
    server, tmp_path, no_env, monkeypatch
):
    monkeypatch.setenv("MDL_MNIST_URL", server.url)
    cache = tmp_path / "cache" / "mdl" / "mnist"
    first = load_mnist(download=True, flatten=True)
    assert sorted(os.listdir(cache)) == sorted(GZ)
    assert server.requests == dict.fromkeys(GZ, 1)
    second = load_mnist(flatten=True)  # download=False: found in the cache
    assert second.source == f"mnist IDX files in {cache}"
    assert_same(second, first)
    assert server.requests == dict.fromkeys(GZ, 1)


def test_explicit_root_without_files_is_an_error_naming_it_and_the_network_is_untouched(
    server, mnist_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("MDL_DATA", str(mnist_dir.parent))  # has the files: must not be used
    monkeypatch.setenv("MDL_MNIST_URL", server.url)
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(FileNotFoundError) as error:
        load("mnist", root=root)
    message = str(error.value)
    assert f"looked in: {root}." in message and "download=True" in message
    assert str(mnist_dir) not in message
    assert not server.requests and os.listdir(root) == []


@pytest.mark.parametrize("damage", ["md5", "truncated gzip"])
def test_a_corrupted_file_is_refused_and_nothing_is_left_behind(server, tmp_path, damage):
    name = "train-labels-idx1-ubyte.gz"  # the second file fetched
    raw = bytearray(gzip.decompress(server.files[name]))
    if damage == "md5":
        raw[-1] = (raw[-1] + 1) % 10  # still a valid label file, wrong content
        server.files[name] = gzip.compress(bytes(raw))
        expected = "has md5 [0-9a-f]{32} \\(decompressed\\), expected a25bea73"
    else:
        server.files[name] = server.files[name][:-100]
        expected = "is not a complete gzip file"
    root = tmp_path / "root"
    with pytest.raises(DataFileError, match=expected) as error:
        load_mnist(root, download=True, url=server.url)
    assert f"{server.url}/{name}: {name}" in str(error.value)
    # the file before it stays (it was whole and checked); the refused one left no trace
    assert os.listdir(root) == ["train-images-idx3-ubyte.gz"]


def test_http_error_names_url_and_file_and_leaves_nothing(server, tmp_path):
    del server.files["train-images-idx3-ubyte.gz"]
    root = tmp_path / "root"
    with pytest.raises(DownloadError) as error:
        load_mnist(root, download=True, url=server.url)
    message = str(error.value)
    assert f"{server.url}/train-images-idx3-ubyte.gz: HTTP 404" in message
    assert f"cannot download train-images-idx3-ubyte.gz into {root}" in message
    assert not root.exists() or os.listdir(root) == []


def test_cut_off_transfer_is_a_download_error_and_leaves_nothing(server, tmp_path):
    server.short.add("train-images-idx3-ubyte.gz")
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="train-images-idx3-ubyte.gz"):
        load_mnist(root, download=True, url=server.url)
    assert not root.exists() or os.listdir(root) == []


def test_no_network_says_how_to_get_the_files_by_hand(dead_url, tmp_path):
    root = tmp_path / "root"
    with pytest.raises(DownloadError) as error:
        load_mnist(root, download=True, url=dead_url)
    message = str(error.value)
    assert f"{dead_url}train-images-idx3-ubyte.gz: cannot connect" in message
    assert "by hand" in message and URLS["mnist"][0] in message and str(root) in message
    assert "MDL_MNIST_URL" in message
    assert not root.exists() or os.listdir(root) == []


def test_search_order_and_download_target(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MDL_DATA", str(tmp_path / "data"))
    cache = tmp_path / "cache" / "mdl"
    assert candidate_dirs("mnist", tmp_path / "r") == [tmp_path / "r"]  # root alone
    assert candidate_dirs("mnist", None) == [tmp_path / "data" / "mnist", cache / "mnist"]
    assert candidate_dirs("fashion_mnist", None)[:2] == [
        tmp_path / "data" / "fashion_mnist",
        cache / "fashion_mnist",
    ]
    assert download_dir("mnist", tmp_path / "r") == tmp_path / "r"
    assert download_dir("mnist", None) == tmp_path / "data" / "mnist"
    monkeypatch.delenv("MDL_DATA")
    assert candidate_dirs("mnist", None) == [cache / "mnist"]
    assert download_dir("mnist", None) == cache / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert download_dir("mnist", None) == tmp_path / "home" / ".cache" / "mdl" / "mnist"


def test_base_urls_keyword_then_environment_then_mirrors(monkeypatch):
    monkeypatch.delenv("MDL_MNIST_URL", raising=False)
    monkeypatch.setenv("MDL_FASHION_MNIST_URL", "http://fashion.example/files")
    assert base_urls("mnist") == list(URLS["mnist"])
    assert base_urls("fashion_mnist") == ["http://fashion.example/files/"]
    assert base_urls("fashion_mnist", "http://a/") == ["http://a/"]
    assert base_urls("mnist", ["http://a", "http://b/"]) == ["http://a/", "http://b/"]
    monkeypatch.setenv("MDL_MNIST_URL", "http://m")
    assert base_urls("mnist") == ["http://m/"]
