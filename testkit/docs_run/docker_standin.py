"""`docker` for the docs tier: the real Docker CLI, except `login` and `push` to ECR.

The deploy guide logs in to the stage's ECR registry and pushes both images there. The local
AWS emulator has ECR's API but no registry protocol (no layer uploads), so these two
subcommands get a local stand-in, and only these:

- `docker login --username AWS --password-stdin <account>.dkr.ecr.<region>.amazonaws.com`
  checks the password against the emulator's `ecr get-authorization-token` for that registry
  (what ECR checks) and records the login in the user's Docker config, as docker does;
- `docker push <registry>/<repository>:<tag>` refuses a registry it is not logged in to
  ("no basic auth credentials", as docker says) and then does what the end of a real push does:
  PutImage of the local image's manifest (its config digest is the local image id), the same
  call `make up` makes (tools/rehearsal/release.py). An immutable tag already holding another
  image is refused, as ECR refuses it.

`docker build` runs for real, after one check: it builds as an ARM machine (Apple silicon,
Graviton) would, where an image built without `--platform linux/amd64` is arm64 and the task
(runtime platform X86_64) cannot start it; this engine builds amd64 whatever it is asked, so
the stand-in refuses the build instead of letting the mistake through. Every other subcommand
is the real CLI (DOCS_RUN_REAL_DOCKER, Debian's /usr/bin/docker).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.rehearsal.release import local_manifest, push
from tools.release import ReleaseError

REAL_DOCKER_VAR = "DOCS_RUN_REAL_DOCKER"
PLATFORM = "linux/amd64"  # the task definition's runtime platform (X86_64, LINUX)
_ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com$")


class StandInError(Exception):
    """What docker would print before exiting 1."""


def real_docker() -> str:
    return os.environ.get(REAL_DOCKER_VAR, "/usr/bin/docker")


def config_file() -> Path:
    folder = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(folder) / "config.json"


def _ecr(registry: str) -> Any:
    host = _ECR_HOST.match(registry)
    if host is None:
        raise StandInError(
            f"{registry}: no registry answers here but the emulator's ECR "
            "(<account>.dkr.ecr.<region>.amazonaws.com)"
        )
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint:
        raise StandInError("AWS_ENDPOINT_URL is unset: the stand-in talks to the emulator only")
    return boto3.client("ecr", region_name=host.group("region"), endpoint_url=endpoint)


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def _positional(args: list[str], with_values: Sequence[str]) -> list[str]:
    found, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in with_values:
            skip = True
        elif not arg.startswith("-"):
            found.append(arg)
    return found


def login(args: list[str]) -> str:
    (registry,) = _positional(args, ("--username", "-u", "--password", "-p"))
    username = _option(args, "--username") or _option(args, "-u")
    if "--password-stdin" not in args:
        raise StandInError("pass the password on stdin (--password-stdin), as the guide does")
    password = sys.stdin.read().rstrip("\n")
    if not password:
        raise StandInError("Error: Cannot perform an interactive login from a non TTY device")
    host = _ECR_HOST.match(registry)
    try:
        (data,) = _ecr(registry).get_authorization_token(
            registryIds=[host.group("account") if host else ""]
        )["authorizationData"]
    except (BotoCoreError, ClientError) as exc:
        raise StandInError(f"Error response from daemon: {exc}") from exc
    expected = base64.b64decode(data["authorizationToken"]).decode()
    if f"{username}:{password}" != expected or data["proxyEndpoint"] != f"https://{registry}":
        raise StandInError(
            f"Error response from daemon: login attempt to https://{registry}/v2/ failed with "
            "status: 401 Unauthorized"
        )
    path = config_file()
    config = json.loads(path.read_text()) if path.exists() else {}
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config.setdefault("auths", {})[registry] = {"auth": auth}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return "Login Succeeded"


def _logged_in(registry: str) -> bool:
    path = config_file()
    auths = json.loads(path.read_text()).get("auths", {}) if path.exists() else {}
    return registry in auths


def push_image(args: list[str]) -> str:
    (reference,) = _positional(args, ())
    registry, _, rest = reference.partition("/")
    repository, _, tag = rest.rpartition(":")
    if not repository or not tag:
        raise StandInError(f"{reference}: push a <registry>/<repository>:<tag> reference")
    if not _logged_in(registry):
        raise StandInError(f"no basic auth credentials (docker login {registry} first)")
    inspected = subprocess.run(
        [real_docker(), "image", "inspect", reference], capture_output=True, text=True, check=False
    )
    if inspected.returncode != 0:
        raise StandInError(f"An image does not exist locally with the tag: {rest}")
    (attrs,) = json.loads(inspected.stdout)
    manifest = local_manifest(attrs)
    try:
        digest = push(_ecr(registry), repository, tag, manifest)
    except ReleaseError as exc:
        raise StandInError(
            f"tag invalid: The image tag '{tag}' already exists in the '{repository}' "
            "repository and cannot be overwritten because the repository is immutable."
        ) from exc
    except (BotoCoreError, ClientError) as exc:
        raise StandInError(str(exc)) from exc
    return f"{tag}: digest: {digest} size: {len(manifest)}"


def check_build(args: list[str]) -> None:
    if _option(args, "--platform") != PLATFORM:
        raise StandInError(
            f"docker build without --platform {PLATFORM}: on an ARM machine this builds an "
            "arm64 image, which the task (runtime platform X86_64) cannot start"
        )


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    command = args[0] if args else ""
    try:
        if command == "login":
            print(login(args[1:]))
            return 0
        if command == "push":
            print(push_image(args[1:]))
            return 0
        if command == "build":
            check_build(args[1:])
    except StandInError as exc:
        print(exc, file=sys.stderr)
        return 1
    os.execv(real_docker(), [real_docker(), *args])  # noqa: S606 (the real CLI, as typed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
