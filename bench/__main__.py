"""`make bench`: every benchmark of the project, with figures, goals and ratios.

Run one part with
`python -m bench synth|test-fast|test-suite|infra-tests|service|rehearsal|images|capacity`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{ROOT / 'node_modules' / '.bin'}"
    f"{os.pathsep}{os.environ.get('PATH', '')}",
    "CDK_DISABLE_VERSION_CHECK": "1",
}
# As the Makefile does: runs are timed with bytecode caches, as `make test` runs them.
ENV.pop("PYTHONDONTWRITEBYTECODE", None)


def timed(cmd: list[str], runs: int, cpu_s: list[float] | None = None) -> list[float]:
    """Wall seconds of each run; `cpu_s` (when given) gets each run's CPU seconds, user +
    system, of every process it started (waited-for children, their children included)."""
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=ENV, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if cpu_s is not None:
            cpu_s.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return times


def report(name: str, times: list[float], goal_s: float) -> bool:
    med = statistics.median(times)
    ok = med <= goal_s
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(
        f"{name:<34} median {med:6.2f} s  goal <= {goal_s:5.1f} s  "
        f"ratio {med / goal_s:4.2f}  {'PASS' if ok else 'MISS'}  (runs: {runs})"
    )
    return ok


def bench_synth() -> bool:
    out = tempfile.mkdtemp(prefix="fyntrix-bench-cdk.")
    cmd = [str(ROOT / "node_modules/.bin/cdk"), "synth", "--quiet", "--no-notices", "-o", out]
    timed(cmd, 1)  # warm-up: first jsii start loads the assembly cache
    return report("cdk synth (all stacks, nag)", timed(cmd, 5), 6.0)


PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
# The unit tier is what a developer runs after every change: it must stay quick. The suite and
# the container tier (image builds, a Docker engine) are reported apart, with no goal.
TEST_FAST_GOAL_S = 30.0
WITHOUT_CONTAINERS = ["-m", "not containers"]
CONTAINER_TIER = ["-m", "containers", "tests/containers"]
# Every run's output is appended here (git-ignored), to compare runs without keeping figures
# in the docs.
RESULTS = ROOT / ".bench" / "results.txt"


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min) on {os.cpu_count()} CPUs"


def loop_ms() -> float:
    """Milliseconds a fixed CPU-bound loop takes, best of 3: the machine's own speed, which
    drifts on a shared machine even with nothing else running; a suite's figure means little
    without it beside."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i * i
        best = min(best, time.perf_counter() - start)
    return best * 1000


def bench_pytest(name: str, args: list[str], runs: int, goal_s: float | None) -> bool:
    """Wall time of a pytest run as `make` starts it (xdist workers included). The load
    average is printed before: another process using the CPUs stretches every figure. The
    CPU seconds are printed after, and the fixed loop's time before and after: the same tests
    on the same workers take more CPU seconds when the machine is slower."""
    print(f"{load_average()}; fixed loop {loop_ms():.0f} ms")
    cpu_s: list[float] = []
    try:
        times = timed([*PYTEST, *args], runs, cpu_s)
    except subprocess.CalledProcessError as exc:
        # The assertion lines too: a run that fails only under load cannot be rerun to see why.
        out = exc.stdout.decode().splitlines()
        failed = [line for line in out if line.startswith(("FAILED", "ERROR", "E  "))]
        print(f"{name}: failed (exit {exc.returncode}):")
        print("\n".join(failed[-60:]) or exc.stderr.decode()[-1000:])
        return False
    if goal_s is None:
        runs_s = ", ".join(f"{t:.2f}" for t in times)
        print(f"{name:<34} median {statistics.median(times):6.2f} s  (runs: {runs_s})")
        ok = True
    else:
        ok = report(name, times, goal_s)
    print(f"  CPU seconds per run (user + system): {', '.join(f'{c:.1f}' for c in cpu_s)}")
    print(f"  fixed loop after the runs: {loop_ms():.0f} ms")
    return ok


def bench_test_fast() -> bool:
    args = ["--unit", "--snapshot-warn-unused"]  # exactly what `make test-fast` runs
    return bench_pytest("unit tier (make test-fast)", args, 3, TEST_FAST_GOAL_S)


def bench_test_suite() -> bool:
    # Once each: they take minutes.
    bench_pytest(
        f"whole suite without containers ({os.cpu_count()} CPUs)", WITHOUT_CONTAINERS, 1, None
    )
    bench_pytest("container tier (tests/containers)", CONTAINER_TIER, 1, None)
    return True


def bench_infra_tests() -> bool:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/infra"]
    return report("infra test suite", timed(cmd, 3), 60.0)


def bench_module(module: str) -> Callable[[], bool]:
    def run() -> bool:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            print(f"{module}: not available ({exc})")
            return False
        return int(mod.main()) == 0

    return run


PARTS: dict[str, Callable[[], bool]] = {
    "synth": bench_synth,
    "test-fast": bench_test_fast,
    "test-suite": bench_test_suite,
    "infra-tests": bench_infra_tests,
    "service": bench_module("bench.service"),
    "rehearsal": bench_module("bench.rehearsal"),
    "images": bench_module("bench.images"),
    "capacity": bench_module("bench.capacity"),
}


class Tee(io.TextIOBase):
    """Writes to several text streams: the terminal and the results file."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "(no commit)"


def run_parts(names: list[str]) -> None:
    results = {}
    for name in names:
        print(f"\n== {name}")
        results[name] = PARTS[name]()
    print("\n== summary")
    for name, ok in results.items():
        print(f"{name:<14} {'PASS' if ok else 'MISS'}")


def main(argv: list[str], results_file: Path = RESULTS) -> int:
    names = argv or list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    results_file.parent.mkdir(parents=True, exist_ok=True)
    with results_file.open("a") as kept, contextlib.redirect_stdout(Tee(sys.stdout, kept)):
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(f"\n# python -m bench {' '.join(names)}: {started}, commit {commit()}")
        run_parts(names)
    print(f"(appended to {results_file})")
    # Benchmarks report; they do not fail the build on a slow machine.
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
