"""Fetching data files, only when a loader is asked to (``download=True``).

A file is fetched whole into memory, checked by the caller (an md5 sum), and only then written,
atomically (temp file + fsync + ``os.replace``, `mdl.records.write_bytes_atomic`): a
failed, refused or interrupted download leaves no file under the target name, and nothing
partial is ever resumed or read back. Mirrors are tried in order while they fail to answer;
a file that arrives but fails its check is an error at once.

Downloads go to the loader's ``root`` if given, else ``$MDL_DATA/<name>``, else
``cache_dir()/<name>`` (``$XDG_CACHE_HOME/mdl``, else ``~/.cache/mdl``).
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from mdl.records import write_bytes_atomic

TIMEOUT_S = 60.0
_USER_AGENT = "mdl (python urllib)"  # some servers refuse urllib's default agent


class DownloadError(OSError):
    """A file that none of its URLs delivered (HTTP error, no network, cut-off transfer)."""


def cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/mdl`` if that is set, else ``~/.cache/mdl``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "mdl"


def fetch(url: str, *, timeout: float = TIMEOUT_S) -> bytes:
    """The body of ``url``; raises ``OSError``/``http.client.HTTPException`` on any failure."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = response.read()
        expected = response.headers.get("Content-Length")
    if expected is not None and expected.isdigit() and len(data) != int(expected):
        raise DownloadError(f"{url}: got {len(data)} bytes, the server announced {expected}")
    return data


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"cannot connect ({error.reason})"
    return f"{type(error).__name__}: {error}"


def download(
    urls: Sequence[str],
    path: str | os.PathLike,
    check: Callable[[bytes, str], None],
    *,
    manual: str = "",
    timeout: float = TIMEOUT_S,
) -> Path:
    """Fetch the first of ``urls`` that answers, check it, write it to ``path`` atomically.

    ``check(data, url)`` raises to refuse the bytes (nothing is written then, and the error
    propagates as is). If no URL answers, `DownloadError` names each URL with its
    failure, followed by ``manual`` (how to get the file by hand).
    """
    path = Path(path)
    failures = []
    for url in urls:
        try:
            data = fetch(url, timeout=timeout)
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"{url}: {_describe(error)}")
            continue
        check(data, url)
        return write_bytes_atomic(path, data)
    tried = "; ".join(failures) or "no URL given"
    raise DownloadError(
        f"cannot download {path.name} into {path.parent}: {tried}. {manual}".strip()
    )
