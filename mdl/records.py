"""Results on disk: every file mdl writes appears whole or not at all.

A write goes to a temporary file in the same folder, is flushed and fsynced, then renamed over
the target (``os.replace`` is atomic on POSIX and Windows), so a crash or kill leaves either
the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``os.umask`` can
    only be read by setting it, which another thread could see)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path.

    The file gets the permissions a plain ``open(path, "wb")`` would give it (those of the
    file it replaces, else ``0o666`` less the umask), not the temporary file's private 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON (no NaN: strict JSON) to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    return write_bytes_atomic(path, text.encode())


# --- Append-only JSON Lines -----------------------------------------------------------------
# A sweep appends one line per finished point. Each line goes out in a single ``write`` on a
# file opened with O_APPEND, then fsync: a kill lands before or after that syscall, so a line
# is either whole or absent. Should a crash (power loss, full disk) still leave a partial last
# line, readers ignore it and ``append_record`` cuts it off before appending: the point it
# described counts as unfinished and runs again. No line is ever torn into the middle of the
# file, and no point is recorded twice.


def _complete_prefix_length(data: bytes) -> int:
    """Length of ``data`` up to and including its last newline."""
    return data.rfind(b"\n") + 1


def read_records(path: str | os.PathLike) -> list[dict]:
    """The complete records of a JSON Lines file (or of ``DIR/records.jsonl``), as dicts.

    A final line without its newline (an interrupted append) is ignored; a complete line that
    is not a JSON object raises ValueError naming the file and line.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "records.jsonl"
    if not path.exists():
        return []
    data = path.read_bytes()
    records = []
    for number, line in enumerate(data[: _complete_prefix_length(data)].splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number} is not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number} is not a JSON object")
        records.append(record)
    return records


def append_record(path: str | os.PathLike, record: dict) -> None:
    """Append ``record`` as one line of strict JSON, atomically (see the note above)."""
    path = Path(path)
    line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:
            # Cut off a partial last line left by a crash, so this record starts a line.
            os.lseek(fd, max(0, size - 65536), os.SEEK_SET)
            tail = os.read(fd, 65536)
            if not tail.endswith(b"\n"):
                keep = size - len(tail) + _complete_prefix_length(tail)
                os.ftruncate(fd, keep)
        written = os.write(fd, line)
        if written != len(line):  # only on a full disk; leave no partial line behind
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError(f"short write appending to {path} ({written} of {len(line)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


def records_dataframe(path: str | os.PathLike):
    """The records as a pandas DataFrame (pandas is optional: ``pip install pandas``)."""
    try:
        import pandas
    except ImportError as error:
        raise ImportError("records_dataframe needs pandas: pip install pandas") from error
    return pandas.DataFrame(read_records(path))
