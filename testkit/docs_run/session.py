"""A user's shell for the docs tier: a clean clone of a commit, the tools the guide assumes on
PATH (and Node not among them), the AWS emulator as the account, one `bash -Eeuo pipefail`.

The user has run `make setup` (the clone links this checkout's .venv and node_modules, and
its dependency files are older than their install stamps, as after a setup); the guide's
commands do everything else. Their PATH is the machine's, less any `node`/`npm`/`npx` (the
guide must never need a Node that `make setup` does not provide) and with two stand-ins first:
`aws` (the AWS CLI from the virtualenv, awscli in requirements-dev.txt) and `docker`
(testkit/docs_run/docker_standin.py: the real CLI, but login/push to the emulator's ECR).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = Path(sys.executable)
# What a user's machine has on PATH that a guide may not rely on.
NOT_ON_A_USERS_PATH = frozenset({"node", "nodejs", "npm", "npx", "corepack"})
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# Files whose change makes `make` reinstall the venv or node_modules (the Makefile's stamps).
DEPENDENCY_FILES = (
    "requirements.txt",
    "requirements-dev.txt",
    "service/requirements.txt",
    "package.json",
    "package-lock.json",
)
# The machine's network trust settings (a proxy's CA here), kept as a user's shell has them.
MACHINE_SETTINGS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def clone(dest: Path, ref: str = "HEAD") -> Path:
    """A clean clone of `ref` of this repository at `dest`, set up as after `make setup`."""
    sha = git("rev-parse", ref)
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(dest)], check=True)
    git("checkout", "-q", sha, cwd=dest)
    for name in (".venv", "node_modules"):
        (dest / name).symlink_to((ROOT / name).resolve(), target_is_directory=True)
    for name in DEPENDENCY_FILES:
        os.utime(dest / name, (0, 0))
    return dest


def user_bin(base: Path) -> str:
    """PATH for the session: the stand-ins, then the machine's tools without Node."""
    standins = base / "standins"
    tools = base / "tools"
    standins.mkdir(parents=True)
    tools.mkdir()
    seen = set(NOT_ON_A_USERS_PATH) | {"docker", "aws"}
    for folder in map(Path, SYSTEM_DIRS):
        for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
            if entry.name not in seen:
                seen.add(entry.name)
                (tools / entry.name).symlink_to(entry)
    _script(standins / "aws", f'exec {shlex.quote(str(VENV_PYTHON))} -m awscli "$@"')
    docker = f"PYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(str(VENV_PYTHON))} -m "
    _script(standins / "docker", docker + 'testkit.docs_run.docker_standin "$@"')
    return f"{standins}{os.pathsep}{tools}"


def _script(path: Path, line: str) -> None:
    path.write_text(f"#!/bin/sh\n{line}\n")
    path.chmod(0o755)


# The tier's own shell functions, before the page's commands: which block runs and since when
# (for the failure message and the blocks' times), and writing a ```toml block above the stage
# file's [placeholders] table.
PRELUDE = r"""
__docs_block() { __DOCS_BLOCK=$1; echo "::docs-run block $1 at ${SECONDS} s" >&2; }
__docs_failed() {
  echo "::docs-run failed: script line $1, page block at line ${__DOCS_BLOCK:-?}, exit $2: $3" >&2
}
trap '__docs_failed $LINENO $? "$BASH_COMMAND"' ERR
__docs_above_placeholders() {
  "$DOCS_RUN_PYTHON" -c '
import sys, tomllib
path, text = sys.argv[1], sys.stdin.read()
page = open(path, encoding="utf-8").read()
assert page.count("\n[placeholders]\n") == 1, path + ": no single [placeholders] table"
page = page.replace("\n[placeholders]\n", "\n" + text + "\n[placeholders]\n")
tomllib.loads(page)
open(path, "w", encoding="utf-8").write(page)
' "$1"
}
"""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float


def session_env(home: Path, path: str, emulator: str, extra: Mapping[str, str]) -> dict[str, str]:
    """A new terminal's variables, the emulator's endpoint and dummy credentials (what
    docs/deploy.md#against-the-local-emulator exports), and the test's documented ones."""
    machine = {k: os.environ[k] for k in MACHINE_SETTINGS if os.environ.get(k)}
    return {
        **machine,
        "HOME": str(home),
        "PATH": path,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "AWS_ENDPOINT_URL": emulator,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "DOCS_RUN_PYTHON": str(VENV_PYTHON),
        **extra,
    }


def run(
    clone_dir: Path, script: str, env: Mapping[str, str], stdin: str, timeout_s: float
) -> Outcome:
    """`script` (with PRELUDE first) in one bash, from the clone, input on stdin."""
    path = clone_dir.parent / "docs-run.sh"
    path.write_text(script)
    started = time.monotonic()
    done = subprocess.run(
        ["/bin/bash", "-Eeuo", "pipefail", str(path)],
        cwd=clone_dir,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Outcome(
        returncode=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        elapsed_s=round(time.monotonic() - started, 1),
    )


def block_seconds(outcome: Outcome) -> list[tuple[int, int]]:
    """(page line of the block's fence, whole seconds it ran), in the order the blocks ran."""
    starts = [
        (int(words[2]), int(words[4]))
        for words in (ln.split() for ln in outcome.stderr.splitlines())
        if words[:2] == ["::docs-run", "block"]
    ]
    ends = [t for _, t in starts[1:]] + [int(outcome.elapsed_s)]
    return [(line, end - t) for (line, t), end in zip(starts, ends, strict=True)]
