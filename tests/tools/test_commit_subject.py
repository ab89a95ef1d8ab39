"""Commit subjects stay at most 72 characters: the `commit-msg` hook of .pre-commit-config.yaml
(tools/commit_subject.py) refuses a longer one, through pre-commit as git runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.commit_subject import MAX_SUBJECT_CHARS, main, subject_of

ROOT = Path(__file__).resolve().parents[2]


def subject(length: int) -> str:
    head = "docs: "
    return head + "x" * (length - len(head))


def run_hook(message: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The hook as `git commit` runs it once `pre-commit install` has installed it."""
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "commit-subject", "--hook-stage",
         "commit-msg", "--commit-msg-filename", str(message), "--all-files"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
        env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")},
    )  # fmt: skip


def test_pre_commit_accepts_72_characters_and_refuses_73(tmp_path: Path) -> None:
    assert MAX_SUBJECT_CHARS == 72
    at_most = tmp_path / "ok.txt"
    at_most.write_text(
        subject(72) + "\n\nA body line may be as long as it likes, " + "y" * 80 + "\n"
    )
    too_long = tmp_path / "long.txt"
    too_long.write_text(subject(73) + "\n")
    accepted = run_hook(at_most, tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    refused = run_hook(too_long, tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "the commit subject has 73 characters, at most 72" in refused.stdout


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("ci: pin actions\n\nbody\n", "ci: pin actions"),
        ("\n\n# Please enter the commit message\ntests: one group\n", "tests: one group"),
        ("make: help   \n", "make: help"),
        ("# only comments\n\n", ""),
    ],
)
def test_the_subject_is_the_first_line_that_is_not_blank_or_a_comment(
    message: str, expected: str
) -> None:
    assert subject_of(message) == expected


def test_a_missing_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: python -m tools.commit_subject" in capsys.readouterr().err
