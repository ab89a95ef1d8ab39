"""pytest-xdist's `--dist loadgroup` (pyproject.toml) really keeps an `xdist_group` on one
worker with the pinned pytest and xdist: a pytest whose node ids xdist cannot rewrite would
spread a group silently (pytest-dev/pytest-xdist#1386), and each worker would pay for its synths
and shared runs again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two xdist workers in a subprocess

GROUPED = """
import os
import pytest

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    print("RAN", i, os.environ["PYTEST_XDIST_WORKER"])

@pytest.mark.parametrize("i", range(6))
def test_free(i):
    pass
"""


def test_an_xdist_group_runs_whole_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the project's options
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-n", "2", "--dist", "loadgroup", "-p",
         "no:cacheprovider", "-rA", "test_grouped.py"],
        # xdist only: the venv's other plugins would only slow each worker's start.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 passed" in result.stdout, result.stdout
    workers = {m.group(2) for m in re.finditer(r"RAN (\d) (gw\d)", result.stdout)}
    assert len(re.findall(r"RAN \d gw\d", result.stdout)) == 6, result.stdout
    assert len(workers) == 1, f"the group ran on {sorted(workers)}"
