"""Stand-in base images, built from Debian packages where the upstream bases cannot be pulled.

This machine (and an air-gapped CI) reaches no container registry, so `python:3.11-slim` and
`redis:7-alpine` are replaced by Debian bookworm roots made with `debootstrap`: python3 3.11,
and redis-server 7.0 with the official image's user (999:1000), /data and root-dropping
entrypoint. They are tagged under names of their own (`fyntrix-standin/...`), never under an
upstream name, and reach the Dockerfiles only through their build arguments.

The root filesystems are cached as tarballs under `.cache/standins/`, keyed by everything that
went into them (packages, suite, mirror, the machine's CA bundle, this recipe's version), so a
second run imports a tarball in seconds instead of running debootstrap again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "standins"
SUITE = "bookworm"
# Bump when the recipe below changes: the cache key then changes with it.
RECIPE_VERSION = 1
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The official redis images' user and group ids (Dockerfile.redis runs as 999:1000).
REDIS_UID, REDIS_GID = 999, 1000
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Like the official image's entrypoint: redis-server started as root drops to `redis`.
_REDIS_ENTRYPOINT = """#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
"""


class StandInError(RuntimeError):
    """A stand-in could not be built: one line with the reason and the fix."""


@dataclass(frozen=True, kw_only=True)
class StandIn:
    name: str  # "python" or "redis"
    replaces: str  # the upstream image it stands in for
    packages: tuple[str, ...]
    changes: tuple[str, ...]  # Dockerfile instructions applied at import
    finish: Callable[[Path], None] = field(compare=False)

    def key(self, mirror: str) -> str:
        ca = hashlib.sha256(CA_BUNDLE.read_bytes()).hexdigest() if CA_BUNDLE.exists() else ""
        facts = [RECIPE_VERSION, SUITE, mirror, sorted(self.packages), list(self.changes), ca]
        return hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:12]

    def reference(self, mirror: str) -> str:
        return f"fyntrix-standin/{self.name}:{SUITE}-{self.key(mirror)}"


def _finish_python(root: Path) -> None:
    # The upstream image has `python`; Debian only `python3`.
    (root / "usr/local/bin/python").symlink_to("/usr/bin/python3")


def _finish_redis(root: Path) -> None:
    for name, field_index, value in (("passwd", 2, REDIS_UID), ("group", 2, REDIS_GID)):
        path = root / "etc" / name
        lines = []
        for line in path.read_text().splitlines():
            parts = line.split(":")
            if parts[0] == "redis":
                parts[field_index] = str(value)
                if name == "passwd":
                    parts[3] = str(REDIS_GID)
            lines.append(":".join(parts))
        path.write_text("\n".join(lines) + "\n")
    data = root / "data"
    data.mkdir(exist_ok=True)
    os.chown(data, REDIS_UID, REDIS_GID)
    entry = root / "usr/local/bin/docker-entrypoint.sh"
    entry.write_text(_REDIS_ENTRYPOINT)
    entry.chmod(0o755)


PYTHON = StandIn(
    name="python",
    replaces="python:3.11-slim",
    packages=("python3", "python3-venv", "ca-certificates"),
    changes=(f"ENV PATH={_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]'),
    finish=_finish_python,
)
REDIS = StandIn(
    name="redis",
    replaces="redis:7-alpine",
    packages=("redis-server", "redis-tools", "ca-certificates"),
    changes=(
        f"ENV PATH={_PATH}",
        "ENV LANG=C.UTF-8",
        "VOLUME /data",
        "WORKDIR /data",
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        "EXPOSE 6379",
        'CMD ["redis-server"]',
    ),
    finish=_finish_redis,
)
STANDINS = {s.name: s for s in (PYTHON, REDIS)}


def mirror() -> str:
    return os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


def cached_tarball(spec: StandIn, cache_dir: Path = CACHE_DIR) -> Path:
    """The root filesystem tarball of `spec`, made with debootstrap unless cached."""
    url = mirror()
    tarball = cache_dir / f"{spec.name}-{SUITE}-{spec.key(url)}.tar"
    if tarball.exists():
        return tarball
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        raise StandInError(
            f"{spec.replaces} cannot be pulled and a stand-in needs root and debootstrap "
            "(`make system-deps`); or pass a reachable base (PYTHON_IMAGE=/REDIS_IMAGE=)"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"standin-{spec.name}-", dir=cache_dir) as tmp:
        root = Path(tmp) / "root"
        _debootstrap(spec, root, url, log=Path(tmp) / "debootstrap.log")
        _trim(root)
        if CA_BUNDLE.exists():
            # The machine's bundle: pip and apt inside a build trust what this machine trusts.
            shutil.copyfile(CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
        spec.finish(root)
        partial = tarball.with_suffix(".part")
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=".")
        partial.rename(tarball)
    return tarball


def _debootstrap(spec: StandIn, root: Path, url: str, *, log: Path) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(spec.packages)}",
        SUITE,
        str(root),
        url,
    ]
    with log.open("wb") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise StandInError(
            f"debootstrap of the {spec.name} stand-in failed (exit {done.returncode}): "
            f"{' | '.join(tail)}; check that {url} is reachable (DEBIAN_MIRROR=...)"
        )


def _trim(root: Path) -> None:
    """Drop package caches and lists: nothing at run time reads them."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log"):
        for path in root.glob(pattern):
            if path.is_file():
                path.unlink()


def ensure_standin(client: docker.DockerClient, spec: StandIn) -> str:
    """The stand-in's image reference, imported into the engine from the cached tarball."""
    reference = spec.reference(mirror())
    repository, tag = reference.rsplit(":", 1)
    if client.images.list(name=reference):
        return reference
    tarball = cached_tarball(spec)
    client.api.import_image_from_file(
        str(tarball), repository=repository, tag=tag, changes=list(spec.changes)
    )
    return reference
