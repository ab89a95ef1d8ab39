"""docs/capacity.md states the rules bench/capacity/targets.py and bench/capacity/run.py
apply, with the same numbers: a changed constant fails here until the page says so too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.capacity import run, search
from bench.capacity.targets import (
    APP_MEMORY_CEILING,
    CPU_BOUND_PERCENT,
    MEMORY_MARGIN_POINTS,
    PEAK_TO_MEAN,
    SCALE_OUT_GROWTH,
    THROTTLED_BOUND_PERCENT,
)
from infra.config import load_stage
from infra.config.settings import ScalingSettings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "capacity.md"


@pytest.fixture(scope="module")
def page() -> str:
    return re.sub(r"\s+", " ", PAGE.read_text())


def _default(name: str) -> int:
    return int(getattr(ScalingSettings(), name))


def test_the_page_states_the_derivation_s_constants(page: str) -> None:
    stated = [
        f"{100 * SCALE_OUT_GROWTH:g} % more traffic",
        f"/ {1 + SCALE_OUT_GROWTH:g}",
        f"at least {CPU_BOUND_PERCENT:g} % of it",
        f"at least {THROTTLED_BOUND_PERCENT:g} % of the periods",
        f"at least {MEMORY_MARGIN_POINTS} points above",
        f"{APP_MEMORY_CEILING:.0%}".replace("%", " %") + " of its own hard limit",
        f"ceil({PEAK_TO_MEAN:g} x mean rate / per-task rate) + 1",
    ]
    assert [s for s in stated if s not in page] == []


def test_the_page_states_the_goal_and_the_search(page: str) -> None:
    stated = [
        f"p99 at most {run.P99_GOAL_MS:g} ms",
        f"at least {run.EXPECTED_SHARE:.0%}".replace("%", " %"),
        f"at least {run.MEASURE_S:g} s and {run.MIN_SAMPLES} requests measured",
        "measured once more" if run.RETRIES == 1 else f"measured {run.RETRIES} more times",
        f"idle task for {run.IDLE_S:g} s",
    ]
    assert [s for s in stated if s not in page] == []
    assert search.find_capacity.__kwdefaults__ is not None
    assert search.find_capacity.__kwdefaults__["precision"] == 0.1
    assert "within 10 %" in page


def test_the_page_states_the_defaults_it_explains(page: str) -> None:
    dev = load_stage("dev", image_tag="page-test")
    prod = load_stage("prod", image_tag="page-test")
    stated = [
        f"`cpu_target_percent = {_default('cpu_target_percent')}`",
        f"`memory_target_percent = {_default('memory_target_percent')}`",
        f"`min_capacity` (dev {dev.scaling.min_capacity}, prod {prod.scaling.min_capacity})",
        f"`max_capacity` (dev {dev.scaling.max_capacity}, prod {prod.scaling.max_capacity})",
        f"({prod.task_memory_mib} MiB",
    ]
    assert [s for s in stated if s not in page] == []
