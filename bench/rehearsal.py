"""Wall time of the local rehearsal (`make up`) from a warm .venv/node_modules. Goal: <= 30 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.rehearsal.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 30.0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="fyntrix-bench-up.") as tmp:
        env = {
            **os.environ,
            "RUN_DIR": tmp,
            "AWS_PORT": str(free_port()),
            "REDIS_PORT": str(free_port()),
            "APP_PORT": str(free_port()),
        }
        cmd = [sys.executable, "-m", "tools.rehearsal"]
        start = time.perf_counter()
        up = subprocess.run([*cmd, "up"], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        subprocess.run([*cmd, "down"], cwd=ROOT, env=env, capture_output=True, check=False)
        if up.returncode != 0:
            print(f"rehearsal failed (exit {up.returncode}):\n{up.stdout[-2000:]}{up.stderr}")
            return 1
        timings = json.loads((Path(tmp) / "timings.json").read_text())
    phases = timings["phases"]
    print(f"{'phase':<12} {'seconds':>8}")
    for name, secs in phases.items():
        print(f"{name:<12} {secs:8.2f}")
    verdict = "PASS" if wall <= GOAL_S else "MISS"
    print(
        f"{'rehearsal':<34} wall {wall:6.2f} s  goal <= {GOAL_S:5.1f} s  "
        f"ratio {wall / GOAL_S:4.2f}  {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
