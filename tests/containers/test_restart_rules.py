"""The ECS agent's rule for a container that exits (tools/containers/supervisor.py `decide`),
case by case as the ECS developer guide and API reference state it. No engine needed."""

from __future__ import annotations

from typing import Any

import pytest

from tools.containers.supervisor import decide, docker_time, ran_seconds

REDIS = {"name": "redis", "essential": True}
POLICY = {"enabled": True, "restartAttemptPeriod": 60}


@pytest.mark.parametrize(
    ("cdef", "exit_code", "ran_s", "restart", "stops_task", "why"),
    [
        pytest.param(REDIS, 137, 600.0, False, True, "no restart policy", id="no-policy"),
        pytest.param(
            {**REDIS, "restartPolicy": {"enabled": False}},
            137,
            600.0,
            False,
            True,
            "no restart policy",
            id="policy-off",
        ),
        pytest.param(
            {**REDIS, "restartPolicy": POLICY}, 137, 60.0, True, False, "ran 60.0 s", id="restart"
        ),
        pytest.param(
            {**REDIS, "restartPolicy": POLICY},
            137,
            59.9,
            False,
            True,
            "less than its restartAttemptPeriod of 60 s",
            id="too-soon",
        ),
        pytest.param(
            {**REDIS, "restartPolicy": {"enabled": True}},
            1,
            299.0,
            False,
            True,
            "restartAttemptPeriod of 300 s",
            id="default-period-300",
        ),
        pytest.param(
            {**REDIS, "restartPolicy": {**POLICY, "ignoredExitCodes": [0]}},
            0,
            600.0,
            False,
            True,
            "exit code 0 is ignored",
            id="ignored-exit-code",
        ),
        pytest.param(
            {"name": "sidecar", "essential": False},
            1,
            5.0,
            False,
            False,
            "stays stopped (not essential)",
            id="non-essential",
        ),
        pytest.param(
            {"name": "sidecar", "essential": False, "restartPolicy": POLICY},
            1,
            61.0,
            True,
            False,
            "restartAttemptPeriod 60 s",
            id="non-essential-restarts-too",
        ),
        pytest.param({"name": "app"}, 0, 1.0, False, True, "essential", id="essential-default"),
    ],
)
def test_what_ecs_does_when_a_container_exits(
    cdef: dict[str, Any], exit_code: int, ran_s: float, restart: bool, stops_task: bool, why: str
) -> None:
    decision = decide(cdef, exit_code, ran_s)
    assert (decision.restart, decision.stops_task) == (restart, stops_task)
    assert why in decision.why


def test_run_time_comes_from_the_engines_nanosecond_timestamps() -> None:
    state = {
        "StartedAt": "2026-11-20T10:00:00.123456789Z",
        "FinishedAt": "2026-11-20T10:01:00.623456Z",
    }
    assert ran_seconds(state) == pytest.approx(60.5)
    assert docker_time("2026-11-20T10:00:00Z").second == 0
