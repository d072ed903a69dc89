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
