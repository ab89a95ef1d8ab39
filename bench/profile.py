"""Where a cached read's time goes: the service under wrk load, sampled by py-spy.

`python -m bench.profile [PATH] [SECONDS]` starts `python -m service` (local stage, SQLite,
a private redis-server) under `py-spy record`, drives GET PATH (default /api/portfolio/1..5,
each user with their own token, all cache hits after the first) with wrk -t1 -c32, and prints
the functions with the most samples: self (on-CPU in the function itself) and total
(anywhere on the stack). Profile before optimizing; the figures are shares, not speeds.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.service import mint_tokens  # noqa: E402
from testkit.servers import RedisServer, free_port  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
DEMO_USERS = 5
TOP = 30
LUA = """
local paths = {}
local i = 0
init = function(args)
  local tokens = {%(tokens)s}
  for n = 1, #tokens do
    local path = "%(path)s"
    if path == "" then path = "/api/portfolio/" .. n end
    paths[n] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[n]})
  end
end
request = function()
  i = i %% #paths + 1
  return paths[i]
end
"""


def top_entries(collapsed: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(self, total, all samples) of the event loop's thread, from py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        if "Thread._bootstrap" in stack:
            continue  # idle worker threads (anyio's pool), not the event loop
        count = int(count_text)
        samples += count
        frames = [
            f.split(" (")[0] + " " + f.rpartition("/")[2].split(":")[0] for f in stack.split(";")
        ]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    return own.most_common(TOP), total.most_common(TOP), samples


def main(argv: list[str]) -> int:
    path = argv[0] if argv else ""
    seconds = int(argv[1]) if len(argv) > 1 else 15
    workdir = Path(tempfile.mkdtemp(prefix="fyntrix-profile-"))
    redis = RedisServer(workdir / "redis")
    try:
        redis.start()
        key_path = workdir / "dev-jwt-key.pem"
        listed = ",".join(f'"{t}"' for t in mint_tokens(key_path, DEMO_USERS))
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "APP_STAGE": "local",
            "AUTH_DEV_KEY_PATH": str(key_path),
            "REDIS_PORT": str(redis.port),
            "SQLITE_PATH": str(workdir / "fyntrix.sqlite3"),
        }
        out = workdir / "profile.txt"
        spy = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--format",
                "raw",
                "-r",
                "200",
                "-o",
                str(out),
                "--",
                sys.executable,
                "-m",
                "service",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        script = workdir / "profile.lua"
        script.write_text(LUA % {"tokens": listed, "path": path})
        wrk = [WRK, "-t1", "-c32", f"-d{seconds}s", "-s", str(script), base]
        subprocess.run([*wrk[:3], "-d2s", *wrk[4:]], check=True, capture_output=True)  # warm
        print(subprocess.run(wrk, check=True, capture_output=True, text=True).stdout)
        # SIGINT: py-spy stops sampling, writes its output and ends the service with it.
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        own, total, samples = top_entries(out.read_text())
        print(f"{samples} samples; top {TOP} by self, then by total (% of samples)")
        for frame, count in own:
            print(f"  self  {100 * count / samples:5.1f}%  {frame}")
        for frame, count in total:
            print(f"  total {100 * count / samples:5.1f}%  {frame}")
        return 0
    finally:
        redis.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
