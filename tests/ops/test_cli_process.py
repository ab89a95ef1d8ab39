"""The ops tests run the CLI as a process forked from a preloader (testkit/forked.py): here,
a fork answers exactly as a new interpreter does, and each run is a process of its own."""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from testkit.forked import Preloader
from testkit.servers import RedisServer

from .conftest import clean_env, redis_env, run_ops, run_ops_new_interpreter


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["cache", "ping"],
        ["cache", "stats"],
        ["cache", "keys", "*", "--limit", "-1"],  # usage error: status 2
        ["no-such-command"],
    ],
)
def test_a_forked_run_answers_as_a_new_interpreter(
    args: list[str], design_redis: RedisServer
) -> None:
    env = redis_env(design_redis)
    forked, new = run_ops(*args, env=env), run_ops_new_interpreter(*args, env=env)
    assert forked.returncode == new.returncode
    assert forked.stderr == new.stderr
    # Round-trip times, uptime and counters move between the two runs; the rest is the same.
    assert figures_apart(forked.stdout) == figures_apart(new.stdout)
    assert forked.stdout.startswith("PONG" if args[-1] == "ping" else "")


def figures_apart(text: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "N", text)


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    """A module that reports its argv, working directory and one variable, keeps a mark on its
    module (so a second run would see the first's), then exits with the status it is given."""
    (tmp_path / "probe.py").write_text(
        textwrap.dedent(
            """
            import atexit, os, sys
            import probe_state
            atexit.register(lambda: print("atexit ran"))
            print(sys.argv[1:], os.getcwd(), os.environ.get("PROBE"), probe_state.runs)
            probe_state.runs += 1
            print("to stderr", file=sys.stderr)
            if sys.argv[1] == "raise":
                raise RuntimeError("boom")
            if sys.argv[1] == "hang":
                import time
                time.sleep(60)
            sys.exit(int(sys.argv[1]))
            """
        )
    )
    (tmp_path / "probe_state.py").write_text("runs = 0\n")
    return tmp_path


def test_each_run_is_its_own_process(probe: Path) -> None:
    preloader = Preloader([])
    try:
        first = preloader.run("probe", ["3"], env=clean_env(PROBE="one"), cwd=probe)
        second = preloader.run("probe", ["0"], env=clean_env(), cwd=probe)
        failed = preloader.run("probe", ["raise"], env=clean_env(), cwd=probe)
    finally:
        preloader.close()
    assert (first.returncode, second.returncode, failed.returncode) == (3, 0, 1)
    # argv, working directory and environment are the run's own; nothing stays from the last
    assert first.stdout == f"['3'] {probe} one 0\natexit ran\n"
    assert second.stdout == f"['0'] {probe} None 0\natexit ran\n"
    assert first.stderr == "to stderr\n"
    assert failed.stderr.startswith("to stderr\nTraceback")
    assert failed.stderr.endswith("RuntimeError: boom\n")


def test_a_run_past_its_timeout_is_killed(probe: Path) -> None:
    preloader = Preloader([])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            preloader.run("probe", ["hang"], env=clean_env(), cwd=probe, timeout_s=0.5)
        after = preloader.run("probe", ["0"], env=clean_env(), cwd=probe)
    finally:
        preloader.close()
    assert after.returncode == 0  # the preloader serves on after a killed run
