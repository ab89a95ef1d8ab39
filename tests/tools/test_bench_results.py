"""`make bench` prints its figures and appends them to a git-ignored results file, so runs can
be compared without keeping figures in the docs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import bench.__main__ as bench_main

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_prints_its_figures_and_appends_them_to_the_results_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one part that prints a figure, and a results file with an earlier run in it
    def part() -> bool:
        print("demo figure 1.25 s")
        return True

    monkeypatch.setitem(bench_main.PARTS, "demo", part)
    results = tmp_path / ".bench" / "results.txt"
    results.parent.mkdir()
    results.write_text("an earlier run\n")
    # WHEN the part runs twice
    assert bench_main.main(["demo"], results) == 0
    assert bench_main.main(["demo"], results) == 0
    # THEN the terminal shows the figure, and the file keeps both runs after the earlier one,
    # each headed by what ran
    assert "demo figure 1.25 s" in capsys.readouterr().out
    kept = results.read_text()
    assert kept.startswith("an earlier run\n")
    assert kept.count("# python -m bench demo: ") == 2
    assert kept.count("demo figure 1.25 s") == 2
    assert kept.count("demo           PASS") == 2


def test_the_results_file_is_ignored_by_git() -> None:
    relative = bench_main.RESULTS.relative_to(ROOT)
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(relative)], cwd=ROOT, check=False, timeout=30
    )
    assert result.returncode == 0, f"{relative} is not git-ignored"
