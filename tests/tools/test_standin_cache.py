"""The stand-in cache shared by `make up`, test workers and the workflow tier
(tools/containers/standins.py): concurrent makers publish one file, once, and a failed one
leaves nothing behind."""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from tools.containers.standins import publish_once

MAKERS = 4


def _slow_write(partial: Path, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"{partial.name}\n")
    partial.write_text("root filesystem")
    time.sleep(0.3)  # long enough that every maker arrives while the first one writes


def _make(target: str, log: str, start: Barrier) -> None:
    start.wait()
    publish_once(Path(target), lambda partial: _slow_write(partial, Path(log)))


def test_concurrent_makers_write_the_file_once_and_all_find_it(tmp_path: Path) -> None:
    target, log = tmp_path / "cache" / "python-bookworm-k.tar", tmp_path / "writes.log"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(MAKERS)
    makers = [
        context.Process(target=_make, args=(str(target), str(log), start)) for _ in range(MAKERS)
    ]
    for maker in makers:
        maker.start()
    for maker in makers:
        maker.join(timeout=60)
    assert [maker.exitcode for maker in makers] == [0] * MAKERS
    assert len(log.read_text().splitlines()) == 1
    assert target.read_text() == "root filesystem"
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == [
        target.name
    ]


def test_a_failed_write_leaves_neither_the_file_nor_a_partial(tmp_path: Path) -> None:
    target = tmp_path / "redis-bookworm-k.tar"

    def fail(partial: Path) -> None:
        partial.write_text("half a root")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_once(target, fail)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []

    def write(partial: Path) -> None:
        partial.write_text("whole")

    assert publish_once(target, write).read_text() == "whole"
