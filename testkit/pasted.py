"""Run the commands a tool printed exactly as printed, as a person pasting them would.

`printed_commands` reads the block after a header line (up to the first blank line), joining
backslash continuations; `run_pasted` runs them in order in one new bash, from the project
folder, with a terminal's environment: none of the test's own variables (DOCKER_HOST,
AWS_*, RUN_DIR, the virtualenv on PATH), so a command works only if the printed lines
themselves set what it needs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What a new terminal has; everything else the commands need must come from the commands.
TERMINAL_VARIABLES = ("HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "SHELL", "TMPDIR")


def printed_commands(output: str, header: str) -> list[str]:
    """The commands printed under `header`, one entry per command."""
    lines = output.splitlines()
    start = lines.index(header) + 1
    commands: list[str] = []
    pending = ""
    for line in lines[start:]:
        if not line.strip():
            break
        pending += line.strip() if pending else line.lstrip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip() + " "
            continue
        commands.append(pending)
        pending = ""
    assert not pending, f"a continuation line ends the block: {pending!r}"
    return commands


def terminal_path(environ: dict[str, str] | None = None) -> str:
    """PATH without the project's virtualenv and node_modules (make puts them first)."""
    env = os.environ if environ is None else environ
    project_bins = {str(ROOT / ".venv" / "bin"), str(ROOT / "node_modules" / ".bin")}
    return os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and p not in project_bins
    )


def terminal_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in TERMINAL_VARIABLES if k in os.environ}
    env["PATH"] = terminal_path()
    return env


def run_pasted(commands: list[str], *, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """All commands in one bash, in order; the first that fails stops the run (its exit
    status and output are the result)."""
    script = "set -e -o pipefail\n" + "\n".join(commands) + "\n"
    return subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=terminal_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
