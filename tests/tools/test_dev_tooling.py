"""The developer habits hold: `make help` lists every target, pre-commit runs local hooks only,
ruff and mypy check one list of paths, and the files follow .editorconfig."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tools.gates import PYTHON_PATHS

ROOT = Path(__file__).resolve().parents[2]
# A rule line: `name:` or `name: deps`, not a `NAME := value` assignment.
_RULE = re.compile(r"^([a-z][a-z0-9-]*)\s*:(?!=)", re.MULTILINE)


def git_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]


def test_make_help_lists_every_target_with_a_description() -> None:
    targets = set(_RULE.findall((ROOT / "Makefile").read_text()))
    assert {"help", "setup", "test", "test-fast", "render-schema", "up", "down"} <= targets
    help_text = subprocess.run(
        ["make", "--no-print-directory", "-s", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    listed = {}
    for line in help_text.splitlines():
        name, _, description = line.strip().removeprefix("make ").partition(" ")
        listed[name] = description.strip()
    assert sorted(targets - set(listed)) == [], "targets without a `## ` description"
    assert all(listed[t] for t in targets), listed


def test_pre_commit_runs_local_hooks_only() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = {h["id"]: h for h in config["repos"][0]["hooks"]}
    assert set(hooks) == {"ruff", "ruff-format", "mypy", "generators", "docs", "commit-subject"}
    for hook in hooks.values():
        # A tool already in the project's venv: nothing to download or build.
        assert hook["language"] == "unsupported", hook
        assert hook["entry"].startswith(".venv/bin/"), hook
    assert "--check" in hooks["generators"]["entry"]
    assert "--check" in hooks["docs"]["entry"]
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_and_mypy_check_one_list_that_covers_every_python_file() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert list(PYTHON_PATHS) == pyproject["tool"]["mypy"]["files"]
    assert {"tests", "bench"} <= set(PYTHON_PATHS)
    outside = [
        f
        for f in git_files()
        if f.endswith(".py") and not any(f == p or f.startswith(f"{p}/") for p in PYTHON_PATHS)
    ]
    assert outside == [], "Python files neither ruff nor mypy would check"


def test_tracked_text_files_follow_the_editorconfig() -> None:
    problems = []
    for rel in git_files():
        data = (ROOT / rel).read_bytes()
        if b"\0" in data or not data:
            continue  # binary or empty
        if b"\r\n" in data:
            problems.append(f"{rel}: CRLF line endings")
        if not data.endswith(b"\n"):
            problems.append(f"{rel}: no newline at the end")
        if not rel.endswith(".md") and re.search(rb"[ \t]+\n", data):
            problems.append(f"{rel}: trailing whitespace")
        spaces_only = rel.endswith((".py", ".yml", ".yaml", ".toml"))
        if spaces_only and re.search(rb"^\t", data, re.MULTILINE):
            problems.append(f"{rel}: indented with tabs")
    assert problems == []


def test_auto_starts_one_worker_more_than_cpus_beyond_the_unit_tier(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import pytest_xdist_auto_num_workers as auto_workers

    cpus = os.cpu_count() or 1
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr(pytestconfig.option, "unit", False)
    assert auto_workers(pytestconfig) == cpus + 1
    monkeypatch.setattr(pytestconfig.option, "unit", True)
    assert auto_workers(pytestconfig) == cpus
    # Set, the variable decides: this hook steps aside for xdist's own, which reads it.
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "5")
    assert auto_workers(pytestconfig) is None
