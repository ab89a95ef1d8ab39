"""The workflow tier's setup (`make test-workflows`, tests/workflows): one run of the shipped
workflows' jobs against this clone's HEAD, as the runner account, in a fresh folder.

The run's `vars` are the repository variables a team sets (placeholders where the value is an
AWS ARN: the steps that read them for real need AWS and are skipped); no secret is set, and
no step that runs here reads one. The Docker engine the container tests use is the runner's:
DOCKER_HOST when set (as a self-hosted runner's environment sets it), else the system's, else,
as root, the tooling's own dockerd, reachable by the runner account through the `docker` group
as on GitHub's runner.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final

import yaml

from tools.workflows.account import Account, runner_account
from tools.workflows.runner import Run

ROOT: Final = Path(__file__).resolve().parents[2]
WORKFLOWS: Final = ROOT / ".github" / "workflows"
REPOSITORY: Final = "fyntrix/fyntrix-deploy"
PLACEHOLDER_ACCOUNT: Final = "123456789012"  # AWS's documentation account
TIER_VARS: Final = {
    "AWS_REGION": "us-east-1",
    "PROD_CERTIFICATE_ARN": f"arn:aws:acm:us-east-1:{PLACEHOLDER_ACCOUNT}:certificate/"
    "00000000-0000-0000-0000-000000000000",
    **{
        f"AWS_{name}_ROLE_ARN": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/fyntrix-{name.lower()}"
        for name in ("DEV_DEPLOY", "PROD_DEPLOY", "DIFF")
    },
}
# The machine's network trust and package-index settings, passed to the steps as a
# self-hosted runner's environment carries them (here TLS goes through a proxy whose CA only
# these name; GitHub's hosted runners need none of them).
MACHINE_SETTINGS: Final = (
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "AWS_CA_BUNDLE",
    "PIP_CERT",
    "PIP_FIND_LINKS",
    "PIP_DEFAULT_TIMEOUT",
    "PIP_DISABLE_PIP_VERSION_CHECK",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
# Set in every step this tier runs; tests/workflows refuses to start where it is set, so
# the tier never runs itself from inside a run (its `make test` step, say).
NESTED_MARK: Final = "FYNTRIX_INSIDE_WORKFLOW_TIER"


def load_workflow(name: str) -> dict[str, object]:
    doc: dict[object, object] = yaml.safe_load((WORKFLOWS / name).read_text())
    # PyYAML reads the `on` key as True.
    return {str("on" if k is True else k): v for k, v in doc.items()}


def machine_settings() -> dict[str, str]:
    return {k: os.environ[k] for k in MACHINE_SETTINGS if os.environ.get(k)}


def render_schema(account: Account, base: Path, root: Path) -> dict[str, str]:
    """RENDER_SCHEMA_FILE for `make setup`: GitHub's runner downloads Render's schema, which
    this machine cannot reach; the copy this clone's `make setup` cached (checked against the
    same pinned sha256) stands in for the download."""
    cached = root / ".cache" / "schemas" / "render.yaml.schema.json"
    if not cached.exists():
        return {}
    copy = base / cached.name
    shutil.copy2(cached, copy)
    account.chown(copy)
    return {"RENDER_SCHEMA_FILE": str(copy)}


def head_sha(root: Path = ROOT) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def uncommitted(root: Path = ROOT) -> list[str]:
    """Changes the run does not see: it checks out the commit, as GitHub does."""
    out = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


@contextlib.contextmanager
def tier_run(out: IO[str], root: Path = ROOT, sha: str | None = None) -> Iterator[Run]:
    """A Run in a fresh folder owned by the runner account, removed afterwards (kept when
    FYNTRIX_KEEP_WORKFLOW_RUN=1, to look at a failed job's workspace)."""
    account = runner_account()
    base = Path(tempfile.mkdtemp(prefix="fyntrix-workflows."))
    base.chmod(0o755)
    account.chown(base)
    engine_env, stop_engine = runner_docker(account, base, root)
    machine = {**machine_settings(), **render_schema(account, base, root)}
    try:
        yield Run(
            source=root,
            sha=sha or head_sha(root),
            repository=REPOSITORY,
            account=account,
            base=base,
            vars=TIER_VARS,
            runner_env={**machine, **engine_env, NESTED_MARK: "1"},
            out=out,
        )
    finally:
        stop_engine()
        if os.environ.get("FYNTRIX_KEEP_WORKFLOW_RUN") != "1":
            shutil.rmtree(base, ignore_errors=True)


def runner_docker(
    account: Account, base: Path, root: Path
) -> tuple[dict[str, str], Callable[[], None]]:
    """The runner's Docker engine (its DOCKER_HOST, if any) and how to stop it afterwards."""
    from tools.containers.engine import (
        EngineError,
        can_start_engine,
        ensure_engine,
        find_engine,
        stop_own_engine,
    )

    def keep() -> None:
        return None

    try:
        found = find_engine(root / ".run")
    except EngineError:
        found = None
    if found is not None and found.kind != "own":
        return ({"DOCKER_HOST": found.base_url} if found.kind == "env" else {}), keep
    if not can_start_engine():
        return {}, keep  # the container tests then report that no engine answers
    # The tooling's own engine under the clone's .run/ keeps the images the tests built;
    # where the runner account cannot reach that folder, one under the run's own folder.
    run_dir = root / ".run"
    run_dir.mkdir(exist_ok=True)
    if not all(account.can_enter(p) for p in (root, run_dir)):
        run_dir = base / "engine"
        run_dir.mkdir()
    engine = found or ensure_engine(run_dir)

    def stop() -> None:
        if engine.started_now:
            stop_own_engine(run_dir)

    return {"DOCKER_HOST": engine.base_url}, stop
