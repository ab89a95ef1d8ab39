#!/usr/bin/env bash
# Installs the real servers and tools the tests and `make up` run (Debian packages), only when
# missing.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v wrk >/dev/null || missing+=(wrk)
# Real containers: Debian's engine (the tooling starts its own dockerd, vfs, under .run/), the
# v1 Compose the deployment guide's commands run, and debootstrap for stand-in base images
# where no container registry is reachable.
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
# The workflow tier (make test-workflows) runs steps as a non-root user who calls `sudo`,
# as on GitHub's runner.
command -v sudo >/dev/null || missing+=(sudo)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
