"""Stand-in base images, built from Debian packages where the upstream bases cannot be pulled.

This machine (and an air-gapped CI) reaches no container registry, so `python:3.11-slim` and
`redis:7-alpine` are replaced by Debian bookworm roots made with `debootstrap`: python3 3.11,
and redis-server 7.0 with the official image's user (999:1000), /data and root-dropping
entrypoint. `postgres:16-alpine` (docker-compose.postgres.yml) is replaced by PostgreSQL 15
(bookworm's) with the official image's contract as far as the compose file uses it: first start
creates POSTGRES_USER / POSTGRES_DB with POSTGRES_PASSWORD in PGDATA (a volume), password
authentication from the network, the server as user `postgres`, `pg_isready` on PATH and a fast
shutdown on `docker stop`. They are tagged under names of their own (`fyntrix-standin/...`),
never under an upstream name, and reach the Dockerfiles only through their build arguments
(Postgres: through POSTGRES_IMAGE).

The root filesystems are cached as tarballs under `.cache/standins/`, keyed by everything that
went into them (packages, suite, mirror, the machine's CA bundle, this recipe's version), so a
second run imports a tarball in seconds instead of running debootstrap again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker

from generators.compose import POSTGRES_IMAGE as POSTGRES_UPSTREAM

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "standins"
SUITE = "bookworm"
# Bump when the recipe below changes: the cache key then changes with it.
RECIPE_VERSION = 1
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The official redis images' user and group ids (Dockerfile.redis runs as 999:1000).
REDIS_UID, REDIS_GID = 999, 1000
# docker-compose.postgres.yml's default image is the upstream; bookworm ships PostgreSQL 15.
POSTGRES_MAJOR = 15
POSTGRES_DATA = "/var/lib/postgresql/data"
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


# Like the official postgres image's entrypoint, for what docker-compose.postgres.yml uses: a
# first start initialises PGDATA from POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB (the
# database in single-user mode: no temporary server, so pg_isready answers only once the real
# one runs), local socket trusted, every network login by password (scram-sha-256).
_POSTGRES_ENTRYPOINT = """#!/bin/sh
set -eu
SELF=/usr/local/bin/docker-entrypoint.sh
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$SELF" "$@"
fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: POSTGRES_PASSWORD is empty: set it (network logins need a password)" >&2
    exit 1
  fi
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  pwfile="$(mktemp)"
  printf '%s\\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \\
    --auth-local=trust --auth-host=scram-sha-256 > /dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    quoted="$(printf '%s' "$db" | sed 's/"/""/g')"
    printf 'CREATE DATABASE "%s";\\n' "$quoted" |
      postgres --single -j -D "$PGDATA" postgres > /dev/null
  fi
  echo "initialised $PGDATA: role $user, database $db"
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
    # What `finish` does beyond the shared recipe (its version, an entrypoint's text): keyed.
    recipe: str = ""
    # Instructions `docker import` cannot apply (STOPSIGNAL): a build on the imported root.
    build_changes: tuple[str, ...] = ()

    def key(self, mirror: str) -> str:
        ca = hashlib.sha256(CA_BUNDLE.read_bytes()).hexdigest() if CA_BUNDLE.exists() else ""
        facts = [RECIPE_VERSION, SUITE, mirror, sorted(self.packages), list(self.changes), ca]
        if self.recipe or self.build_changes:  # else the older stand-ins' keys stay as they were
            facts += [hashlib.sha256(self.recipe.encode()).hexdigest(), list(self.build_changes)]
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


def _owner_ids(root: Path, user: str) -> tuple[int, int]:
    """(uid, gid) of `user` in the root's own /etc/passwd (Debian's adduser picked them)."""
    for line in (root / "etc/passwd").read_text().splitlines():
        parts = line.split(":")
        if parts[0] == user:
            return int(parts[2]), int(parts[3])
    raise StandInError(f"no user {user} in the stand-in's /etc/passwd: the package set changed")


def _trim_docs(root: Path) -> None:
    """Docs, man pages and message catalogues: nothing in a container reads them."""
    for folder in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale"):
        path = root / folder
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()


# Bump when _finish_postgres changes (its cache key changes with it).
_POSTGRES_FINISH_VERSION = 2
# The JIT (llvmjit.so and its bitcode) pulls in LLVM and z3, over half the root: a server
# without llvmjit.so runs with JIT unavailable, silently, as one built without LLVM does.
_POSTGRES_JIT = (
    f"usr/lib/postgresql/{POSTGRES_MAJOR}/lib/llvmjit.so",
    f"usr/lib/postgresql/{POSTGRES_MAJOR}/lib/llvmjit_types.bc",
    f"usr/lib/postgresql/{POSTGRES_MAJOR}/lib/bitcode",
    "usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
    "usr/lib/x86_64-linux-gnu/libLLVM-14.so",
    "usr/lib/x86_64-linux-gnu/libz3.so.4",
    # Locale sources and charmaps: initdb uses glibc's built-in C.UTF-8.
    "usr/share/i18n",
)


def _finish_postgres(root: Path) -> None:
    _trim_docs(root)
    for name in _POSTGRES_JIT:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    # postgresql-common made a cluster (`15/main`) at install; PGDATA is initialised instead.
    for made in ("var/lib/postgresql/15", "etc/postgresql/15"):
        shutil.rmtree(root / made, ignore_errors=True)
    # As the official image does: initdb writes `listen_addresses = '*'` (the container's own
    # interfaces; compose publishes no Postgres port to the host).
    sample = root / f"usr/share/postgresql/{POSTGRES_MAJOR}/postgresql.conf.sample"
    text = sample.read_text()
    if "#listen_addresses = 'localhost'" not in text:
        raise StandInError(f"{sample.name} has no listen_addresses line: the package changed")
    sample.write_text(text.replace("#listen_addresses = 'localhost'", "listen_addresses = '*'"))
    uid, gid = _owner_ids(root, "postgres")
    data = root / POSTGRES_DATA.lstrip("/")
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    os.chown(data, uid, gid)
    entry = root / "usr/local/bin/docker-entrypoint.sh"
    entry.write_text(_POSTGRES_ENTRYPOINT)
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
POSTGRES = StandIn(
    name="postgres",
    replaces=POSTGRES_UPSTREAM,
    packages=(f"postgresql-{POSTGRES_MAJOR}",),
    changes=(
        # The server's own binaries first: `pg_isready` without Debian's perl wrapper.
        f"ENV PATH=/usr/lib/postgresql/{POSTGRES_MAJOR}/bin:{_PATH}",
        "ENV LANG=C.UTF-8",
        f"ENV PGDATA={POSTGRES_DATA}",
        f"VOLUME {POSTGRES_DATA}",
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        "EXPOSE 5432",
        'CMD ["postgres"]',
    ),
    finish=_finish_postgres,
    recipe=f"{_POSTGRES_FINISH_VERSION}\n{_POSTGRES_ENTRYPOINT}",
    # As the official image: SIGINT is Postgres's fast shutdown (SIGTERM, a smart one, would
    # wait for every client to leave, the app's pool included, until Docker kills it).
    build_changes=("STOPSIGNAL SIGINT",),
)
STANDINS = {s.name: s for s in (PYTHON, REDIS, POSTGRES)}


def mirror() -> str:
    return os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


@contextlib.contextmanager
def cache_lock(cache_dir: Path, name: str) -> Iterator[None]:
    """Held while one process makes (or imports) what `name` stands for.

    `make up`, test workers and the workflow tier share the cache and the engine: without it,
    two of them building the same root write one partial file and the second one's rename
    fails, or one removes the intermediate image another is building from.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / f"{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish_once(target: Path, write: Callable[[Path], None]) -> Path:
    """`target`, written by `write` (into a partial file renamed in place) unless another
    process has already published it; concurrent callers write it once."""
    with cache_lock(target.parent, target.stem):
        if target.exists():
            return target
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        try:
            write(partial)
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def cached_tarball(spec: StandIn, cache_dir: Path = CACHE_DIR) -> Path:
    """The root filesystem tarball of `spec`, made with debootstrap unless cached."""
    url = mirror()
    tarball = cache_dir / f"{spec.name}-{SUITE}-{spec.key(url)}.tar"
    if tarball.exists():
        return tarball
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        raise StandInError(
            f"{spec.replaces} cannot be pulled and a stand-in needs root and debootstrap "
            "(`make system-deps`); or pass a reachable image "
            "(PYTHON_IMAGE=/REDIS_IMAGE=/POSTGRES_IMAGE=)"
        )
    return publish_once(tarball, lambda partial: _write_root(spec, url, partial, cache_dir))


def _write_root(spec: StandIn, url: str, partial: Path, cache_dir: Path) -> None:
    # debootstrap's scripts split its target path at whitespace (its chroot fails): in a clone
    # whose path has a space, the root is built in the system's temporary folder instead.
    work_dir = None if any(c.isspace() for c in str(cache_dir)) else cache_dir
    with tempfile.TemporaryDirectory(prefix=f"standin-{spec.name}-", dir=work_dir) as tmp:
        root = Path(tmp) / "root"
        _debootstrap(spec, root, url, log=Path(tmp) / "debootstrap.log")
        _trim(root)
        if CA_BUNDLE.exists():
            # The machine's bundle: pip and apt inside a build trust what this machine trusts.
            shutil.copyfile(CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
        spec.finish(root)
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=".")


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
    if client.images.list(name=reference):
        return reference
    tarball = cached_tarball(spec)
    # One importer per stand-in: another one's clean-up would untag the root this one builds on.
    with cache_lock(CACHE_DIR, f"{spec.name}-image"):
        if not client.images.list(name=reference):
            _import(client, spec, reference, tarball)
    return reference


def _import(client: docker.DockerClient, spec: StandIn, reference: str, tarball: Path) -> None:
    repository, tag = reference.rsplit(":", 1)
    imported = f"{tag}-root" if spec.build_changes else tag
    client.api.import_image_from_file(
        str(tarball), repository=repository, tag=imported, changes=list(spec.changes)
    )
    if spec.build_changes:
        dockerfile = "\n".join([f"FROM {repository}:{imported}", *spec.build_changes, ""])
        client.images.build(
            fileobj=io.BytesIO(dockerfile.encode()), tag=reference, pull=False, rm=True
        )
        client.images.remove(f"{repository}:{imported}", noprune=True)
