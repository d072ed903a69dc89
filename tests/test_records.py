import json
import os

import pytest

from mdl.records import write_bytes_atomic, write_json_atomic


def test_atomic_json_write_round_trips_and_leaves_no_temporaries(tmp_path):
    target = write_json_atomic(tmp_path / "sub" / "summary.json", {"bits": 1.5, "n": [1, 2]})
    assert json.loads(target.read_text()) == {"bits": 1.5, "n": [1, 2]}
    assert os.listdir(target.parent) == ["summary.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = write_bytes_atomic(tmp_path / "f.json", b"old")
    with pytest.raises(ValueError):
        write_json_atomic(target, {"bad": float("nan")})  # strict JSON refuses NaN
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_append_only_records_ignore_and_repair_a_torn_last_line(tmp_path):
    from mdl.records import append_record, read_records

    path = tmp_path / "records.jsonl"
    append_record(path, {"point": "a", "bits": 1.0})
    append_record(path, {"point": "b", "bits": 2.0})
    with open(path, "ab") as handle:  # what a crash in the middle of a write would leave
        handle.write(b'{"point": "c", "bi')
    assert [r["point"] for r in read_records(path)] == ["a", "b"]
    append_record(path, {"point": "c", "bits": 3.0})
    assert [r["point"] for r in read_records(tmp_path)] == ["a", "b", "c"]
    assert path.read_text().count("\n") == 3
    with pytest.raises(ValueError, match="NaN|Out of range"):
        append_record(path, {"point": "d", "bits": float("nan")})
    assert len(read_records(path)) == 3


def test_a_corrupt_complete_line_is_named(tmp_path):
    from mdl.records import read_records

    path = tmp_path / "records.jsonl"
    path.write_text('{"point": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="records.jsonl:2"):
        read_records(path)
    assert read_records(tmp_path / "absent.jsonl") == []


def test_atomic_writes_get_the_permissions_a_plain_write_would(tmp_path):
    """Not the temporary file's private 0o600: 0o666 less the umask for a new file, the old
    file's mode for a replaced one."""
    import os
    import stat

    from mdl.records import write_bytes_atomic

    previous = os.umask(0o022)
    try:
        fresh = write_bytes_atomic(tmp_path / "new.bin", b"x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.bin"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        write_bytes_atomic(kept, b"new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"new"
    finally:
        os.umask(previous)
