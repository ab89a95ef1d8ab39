"""The complexity gate (ruff's C901, PLR0912, PLR0915 in pyproject.toml) covers every path,
with no exemption, and fails a function past its limits."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from tools.gates import PYTHON_PATHS, ROOT, VENV_BIN, tool

RULES = ("C901", "PLR0912", "PLR0915")
LINT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]


def test_the_rules_are_selected_with_their_limits() -> None:
    assert set(RULES) <= set(LINT["select"])
    assert LINT["mccabe"]["max-complexity"] == 10
    assert (LINT["pylint"]["max-branches"], LINT["pylint"]["max-statements"]) == (12, 50)


def test_no_path_and_no_line_is_exempt() -> None:
    ignores = [
        *LINT.get("ignore", []),
        *(rule for rules in LINT.get("per-file-ignores", {}).values() for rule in rules),
    ]
    assert not [rule for rule in ignores if rule.startswith(("C90", "PLR09"))]
    exempt = re.compile(r"#\s*noqa\b[^\n]*\b(C901|PLR0912|PLR0915)\b")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for top in PYTHON_PATHS
        for path in ([ROOT / top] if top.endswith(".py") else (ROOT / top).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if exempt.search(line)
    ]
    assert found == []


def test_a_function_past_the_limit_fails_the_gate(tmp_path: Path) -> None:
    # Eleven independent paths: one more than max-complexity allows.
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(10))
    (tmp_path / "tangled.py").write_text(f"def tangled(x: int) -> int:\n{branches}    return -1\n")
    proc = subprocess.run(
        [
            *tool(VENV_BIN / "ruff"),
            "check",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--output-format",
            "concise",
            str(tmp_path / "tangled.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "C901 `tangled` is too complex (11 > 10)" in proc.stdout
