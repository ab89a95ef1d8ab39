"""`make images`: build service/Dockerfile and service/Dockerfile.redis.

Each base image is a build argument (PYTHON_IMAGE, REDIS_IMAGE) defaulting to the upstream one.
A base given explicitly must exist or be pullable. The default base is used when present or
pullable; where it cannot be pulled (no registry reachable), a stand-in built from Debian
packages replaces it (tools/containers/standins.py) and the output says so.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound

from generators.compose import REDIS_LOCAL_IMAGE
from tools.containers import standins
from tools.containers.standins import StandIn

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "service"
APP_IMAGE = "fyntrix-app:local"
REDIS_IMAGE = REDIS_LOCAL_IMAGE  # what docker-compose.yml names it too
POSTGRES_IMAGE_VAR = "POSTGRES_IMAGE"  # docker-compose.postgres.yml's variable
# Every image this tooling builds carries this label, so it can be listed (and only those).
BUILT_BY_LABEL = "dev.fyntrix.built-by"
# The task definition's runtime platform (X86_64, LINUX): the images pushed, and those the
# rehearsal runs, are built for it whatever machine builds them.
PLATFORM = "linux/amd64"


class BuildError(RuntimeError):
    """A build failed: one line naming the image, the failing step and what to do."""


@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    tag: str
    dockerfile: str
    base_arg: str  # the build argument naming its base image
    standin: StandIn


APP = ImageSpec(
    tag=APP_IMAGE, dockerfile="Dockerfile", base_arg="PYTHON_IMAGE", standin=standins.PYTHON
)
REDIS = ImageSpec(
    tag=REDIS_IMAGE, dockerfile="Dockerfile.redis", base_arg="REDIS_IMAGE", standin=standins.REDIS
)
SPECS = (APP, REDIS)


@dataclass(frozen=True, kw_only=True)
class Built:
    tag: str
    base: str
    base_kind: str  # "upstream", "given" (build argument) or "stand-in"
    build_s: float
    size_bytes: int
    image_id: str


def _present_or_pulled(client: docker.DockerClient, reference: str) -> str | None:
    """None when the image is here or was pulled; else the reason it cannot be had."""
    try:
        client.images.get(reference)
        return None
    except ImageNotFound:
        pass
    try:
        client.images.pull(reference, platform=PLATFORM)
    except APIError as exc:
        return str(exc.explanation or exc).splitlines()[0]
    return None


def resolve_base(
    client: docker.DockerClient,
    spec: ImageSpec,
    environ: Mapping[str, str],
    say: Callable[[str], None],
) -> tuple[str, str]:
    """(base reference, kind) for `spec`."""
    return resolve_image(client, spec.base_arg, spec.standin, environ, say)


def resolve_image(
    client: docker.DockerClient,
    variable: str,
    standin: StandIn,
    environ: Mapping[str, str],
    say: Callable[[str], None],
) -> tuple[str, str]:
    """(reference, kind): the image `variable` names, else the upstream, else the stand-in."""
    given = environ.get(variable)
    if given:
        reason = _present_or_pulled(client, given)
        if reason is not None:
            raise BuildError(f"{variable}={given} cannot be pulled ({reason}): fix the name")
        return given, "given"
    upstream = standin.replaces
    reason = _present_or_pulled(client, upstream)
    if reason is None:
        return upstream, "upstream"
    say(
        f"{upstream} cannot be pulled here ({reason}): using a stand-in built from Debian "
        f"packages ({standin.reference(standins.mirror())}, never tagged {upstream})"
    )
    return standins.ensure_standin(client, standin), "stand-in"


def postgres_image(
    client: docker.DockerClient,
    *,
    environ: Mapping[str, str],
    say: Callable[[str], None] = print,
) -> Built:
    """docker-compose.postgres.yml's image (POSTGRES_IMAGE): used as is, nothing is built on
    it; where the upstream cannot be pulled, the stand-in (its `build_s`: getting it ready)."""
    started = time.monotonic()
    reference, kind = resolve_image(client, POSTGRES_IMAGE_VAR, standins.POSTGRES, environ, say)
    image = client.images.get(reference)
    return Built(
        tag=reference,
        base=reference,
        base_kind=kind,
        build_s=round(time.monotonic() - started, 1),
        size_bytes=int(image.attrs["Size"]),
        image_id=str(image.id),
    )


def build_one(client: docker.DockerClient, spec: ImageSpec, base: str, kind: str) -> Built:
    started = time.monotonic()
    last: list[str] = []
    stream = client.api.build(
        path=str(SERVICE_DIR),
        dockerfile=spec.dockerfile,
        tag=spec.tag,
        buildargs={spec.base_arg: base},
        platform=PLATFORM,
        labels={BUILT_BY_LABEL: "make-images"},
        rm=True,
        forcerm=True,
        pull=False,
        decode=True,
    )
    for chunk in stream:
        if "error" in chunk:
            detail = " | ".join(last[-3:])
            raise BuildError(
                f"building {spec.tag} from service/{spec.dockerfile} failed: "
                f"{_one_line(chunk['error'])} (last output: {detail}); fix that step and rerun "
                "`make images`"
            )
        for line in str(chunk.get("stream", "")).splitlines():
            line = _one_line(line)
            # The builder's own bookkeeping says nothing about why a step failed.
            if line and not line.startswith(("--->", "Removing intermediate", "Running in")):
                last.append(line)
        del last[:-20]
    took = time.monotonic() - started
    image = client.images.get(spec.tag)
    return Built(
        tag=spec.tag,
        base=base,
        base_kind=kind,
        build_s=round(took, 1),
        size_bytes=int(image.attrs["Size"]),
        image_id=str(image.id),
    )


def _one_line(text: str) -> str:
    no_colour = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return " ".join(no_colour.split())


def build_images(
    client: docker.DockerClient,
    *,
    environ: Mapping[str, str],
    say: Callable[[str], None] = print,
    specs: tuple[ImageSpec, ...] = SPECS,
) -> list[Built]:
    """Resolve every base (stand-ins in parallel: debootstrap waits on the network), then build."""
    lock = threading.Lock()

    def say_whole(message: str) -> None:
        with lock:  # one line at a time from the resolving threads
            say(message)

    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        bases = list(pool.map(lambda s: resolve_base(client, s, environ, say_whole), specs))
    built = []
    for spec, (base, kind) in zip(specs, bases, strict=True):
        result = build_one(client, spec, base, kind)
        say(
            f"{result.tag}: built in {result.build_s:.1f} s, {result.size_bytes / 1e6:.0f} MB, "
            f"from {base} ({kind})"
        )
        built.append(result)
    return built


def write_report(path: Path, built: list[Built]) -> None:
    """`images.json` in the run folder: what `make bench` reports (sizes, build times)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: list[dict[str, Any]] = [asdict(b) for b in built]
    path.write_text(json.dumps(payload, indent=1))
