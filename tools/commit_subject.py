"""The `commit-msg` hook of .pre-commit-config.yaml: a commit subject of at most 72 characters,
so `git log --oneline`, `git shortlog` and GitHub show it whole.

Usage: python -m tools.commit_subject <commit message file>   (git passes the file)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

MAX_SUBJECT_CHARS: Final = 72


def subject_of(message: str) -> str:
    """The subject: the first line that is neither blank nor a comment (git may show the hook
    the message before it strips the `#` lines)."""
    for line in message.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.rstrip()
    return ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.commit_subject <commit message file>", file=sys.stderr)
        return 2
    subject = subject_of(Path(args[0]).read_text(encoding="utf-8"))
    if len(subject) > MAX_SUBJECT_CHARS:
        print(
            f"error: the commit subject has {len(subject)} characters, at most "
            f"{MAX_SUBJECT_CHARS} are allowed: shorten it, and put the detail in the body "
            f"after a blank line.\n  {subject}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
