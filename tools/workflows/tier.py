"""The workflow tier's setup (`make test-workflows`, tests/workflows): one run of the shipped
workflows' jobs against this clone's HEAD, as the runner account, in a fresh folder.

The run's `vars` are the repository variables a team sets (placeholders where the value is an
AWS ARN: the steps that read them for real need AWS and are skipped); no secret is set, and
no step that runs here reads one. The Docker engine the container tests use is the runner's:
DOCKER_HOST when set (as a self-hosted runner's environment sets it), else the system's, else,
as root, the tooling's own dockerd, reachable by the runner account through the socket's
group (`docker`) as on GitHub's runner. As root the tier also makes sure that engine holds the
base images the Dockerfiles build on (GitHub's runner pulls them; where no registry answers,
the stand-ins, which only root can make).

One run at a time per machine (they share the runner account). A run leaves nothing behind:
its folder is removed, the engine it started is stopped, every job's stray processes are
killed (tools/workflows/runner.py), and what the runner account left in the temporary folders
during the run is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final
from urllib.parse import urlparse

import yaml

from tools.workflows.account import Account, add_to_group, runner_account
from tools.workflows.runner import Run

if TYPE_CHECKING:  # the Docker SDK loads only when a run starts
    from tools.containers.engine import Engine

ROOT: Final = Path(__file__).resolve().parents[2]
WORKFLOWS: Final = ROOT / ".github" / "workflows"
REPOSITORY: Final = "fyntrix/fyntrix-deploy"
PLACEHOLDER_ACCOUNT: Final = "123456789012"  # AWS's documentation account
# Every stage setting, region included, comes from the committed stage files; the variables
# name only the roles (read by the steps that need AWS, which are skipped).
TIER_VARS: Final = {
    f"AWS_{name}_ROLE_ARN": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/fyntrix-{name.lower()}"
    for name in ("DEV_DEPLOY", "PROD_DEPLOY", "DIFF")
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
# Where the runner account's steps leave temporary files (no TMPDIR is set, as on GitHub).
TEMP_DIRS: Final = (Path("/tmp"), Path("/var/tmp"))  # noqa: S108 (only listed, never written)
LOCK_FILE: Final = Path(tempfile.gettempdir()) / "fyntrix-workflow-tier.lock"


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
def tier_run(
    out: IO[str], root: Path = ROOT, sha: str | None = None, docker: bool = True
) -> Iterator[Run]:
    """A Run in a fresh folder owned by the runner account, removed afterwards (kept when
    FYNTRIX_KEEP_WORKFLOW_RUN=1, to look at a failed job's workspace). `docker=False` for
    jobs that use no Docker engine: none is looked for or started."""
    account = runner_account()
    keep = os.environ.get("FYNTRIX_KEEP_WORKFLOW_RUN") == "1"
    with one_run_at_a_time(out):
        before = runner_temp_entries(account)
        base = Path(tempfile.mkdtemp(prefix="fyntrix-workflows."))
        stop_engine = _nothing
        try:
            base.chmod(0o755)
            account.chown(base)
            engine_env: dict[str, str] = {}
            if docker:
                engine_env, stop_engine, account = runner_docker(account, base, root, out)
            machine = {**machine_settings(), **render_schema(account, base, root)}
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
            if not keep:
                shutil.rmtree(base, ignore_errors=True)
            if account.switch:
                left = runner_temp_entries(account) - before - {base}
                for path in sorted(left):
                    _remove(path)
                if left:
                    print(f"removed {len(left)} temporary file(s) of the run", file=out)


@contextlib.contextmanager
def one_run_at_a_time(out: IO[str]) -> Iterator[None]:
    fd = os.open(LOCK_FILE, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another workflow tier run on this machine", file=out, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def runner_temp_entries(account: Account) -> set[Path]:
    """What the runner account owns at the top of the temporary folders."""
    found = set()
    for folder in TEMP_DIRS:
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_uid == account.uid:
                        found.add(Path(entry.path))
    return found


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _nothing() -> None:
    return None


def runner_docker(
    account: Account, base: Path, root: Path, out: IO[str]
) -> tuple[dict[str, str], Callable[[], None], Account]:
    """The runner's Docker engine (its DOCKER_HOST, if any), how to stop it afterwards, and
    the runner account, given access to the engine's socket where it had none."""
    from tools.containers.engine import EngineError, find_engine

    try:
        found = find_engine(root / ".run")
    except EngineError:
        found = None
    if found is not None and found.kind != "own":
        env = {"DOCKER_HOST": found.base_url} if found.kind == "env" else {}
        return env, _nothing, _with_engine(account, found, out)
    engine, stop = _tooling_engine(account, base, root, found)
    if engine is None:
        return {}, stop, account  # the container tests then report that no engine answers
    return {"DOCKER_HOST": engine.base_url}, stop, _with_engine(account, engine, out)


def _tooling_engine(
    account: Account, base: Path, root: Path, found: Engine | None
) -> tuple[Engine | None, Callable[[], None]]:
    """The tooling's own dockerd (found running, or started now as root), or None."""
    from tools.containers.engine import can_start_engine, ensure_engine, stop_own_engine

    if found is None and not can_start_engine():
        return None, _nothing
    # The tooling's own engine under the clone's .run/ keeps the images the tests built;
    # where the runner account cannot reach that folder, one under the run's own folder.
    run_dir = root / ".run"
    run_dir.mkdir(exist_ok=True)
    if not all(account.can_enter(p) for p in (root, run_dir)):
        run_dir = base / "engine"
        run_dir.mkdir()
    engine = found if found is not None and run_dir == root / ".run" else ensure_engine(run_dir)

    def stop() -> None:
        if engine.started_now:
            stop_own_engine(run_dir)

    return engine, stop


def _with_engine(account: Account, engine: Engine, out: IO[str]) -> Account:
    """The account, able to use `engine`: as root, in the group of its socket (the `docker`
    group, as on GitHub's runner), and the engine holding the base images the Dockerfiles
    build on (pulled, or the stand-ins made where no registry answers)."""
    if os.geteuid() == 0:
        _base_images(engine, out)
    url = urlparse(engine.base_url)
    socket = Path(url.path) if url.scheme in ("unix", "") else None
    if socket is None or account.can_write(socket) or not account.switch:
        return account
    gid = socket.stat().st_gid
    if gid == 0:
        raise RuntimeError(
            f"the Docker socket {socket} is root's alone: the runner account cannot use it; "
            "give it a group (dockerd -G docker) or set DOCKER_HOST to an engine it can reach"
        )
    return add_to_group(account, grp.getgrgid(gid).gr_name)


def _base_images(engine: Engine, out: IO[str]) -> None:
    from tools.containers import standins
    from tools.containers.images import POSTGRES_IMAGE_VAR, SPECS, resolve_image

    wanted = [(s.base_arg, s.standin) for s in SPECS] + [(POSTGRES_IMAGE_VAR, standins.POSTGRES)]
    for variable, standin in wanted:
        reference, kind = resolve_image(
            engine.client, variable, standin, dict(os.environ), lambda m: print(m, file=out)
        )
        print(f"runner's engine: {reference} ({kind})", file=out, flush=True)
