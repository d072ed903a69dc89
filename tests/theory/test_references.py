"""Every test a theory note cites exists, so the notes cannot point at nothing."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_theory_notes_cite_existing_tests():
    cited = set()
    for note in (ROOT / "theory").glob("*.md"):
        cited |= set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", note.read_text()))
    assert len(cited) >= 10
    for path, name in sorted(cited):
        source = (ROOT / path).read_text()
        assert re.search(rf"def {name}\(", source), (
            f"{path}::{name} cited in theory/ does not exist"
        )
