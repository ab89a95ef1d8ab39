"""Docs and comments say how things work and how to run them, not when or under what load
something ran: figures with their hour go to `make bench`'s results file, not into the tree."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_DEVELOPMENT_GUIDE_LINES = 150
# A run log's marks: a project issue number, a load average's figure, a time of day.
RUN_LOG = re.compile(
    r"\bissues? #?\d+|\bload (average )?(of )?\d+(\.\d+)?\b|\b(at|from|until) [0-2]?\d:[0-5]\d\b",
    re.IGNORECASE,
)
# Generated or recorded elsewhere: reference pages, snapshots, lock files, vendored data; and
# this file, whose examples say what a run log looks like.
SKIPPED = ("docs/reference/", "__snapshots__/", "package-lock.json", ".json", Path(__file__).name)


def tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout
    names = [n for n in out.decode().split("\0") if n and not n.startswith(SKIPPED)]
    return [ROOT / n for n in names if not n.endswith(SKIPPED) and (ROOT / n).is_file()]


def test_the_development_guide_fits_its_length() -> None:
    lines = len((ROOT / "docs" / "development.md").read_text().splitlines())
    assert lines <= MAX_DEVELOPMENT_GUIDE_LINES, f"docs/development.md has {lines} lines"


def test_no_doc_or_comment_keeps_a_run_log() -> None:
    found = []
    for path in tracked_text_files():
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary
        for number, line in enumerate(data.decode(errors="replace").splitlines(), 1):
            if RUN_LOG.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)


def test_the_pattern_finds_what_a_run_log_says() -> None:
    for line in ("as issue 10 set it", "at load 3.7", "load average 4.8", "took 91 s at 03:40"):
        assert RUN_LOG.search(line), line
    for line in ("port localhost:6379", "the load average is printed", "pytest-xdist#1386"):
        assert not RUN_LOG.search(line), line
