"""The cache alarms fire on trouble only, never on an LRU cache that is merely full.

A full cache is the design (maxmemory + allkeys-lru): "used memory > 90 % of maxmemory" and
"evictions > N" are its steady state. What means trouble: evictions while most reads miss (the
working set does not fit), and the redis container's memory nearing its hard limit (the OOM
kill). The thrashing alarm's metric math is evaluated below on the expression as synthesized.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from infra import monitoring_design as d
from infra.config import load_stage
from tests.infra.conftest import Synth
from tests.infra.test_monitoring import alarms_by_name

# Tokens of the metric-math subset the alarm uses; anything else fails the translation.
_TOKEN = re.compile(r"\s*(IF|AND|FILL|[a-z][a-z0-9_]*|\d+(?:\.\d+)?|>=|<=|[<>()*+,/-])")


def metric_math(expression: str) -> Callable[[dict[str, float | None]], float]:
    """CloudWatch metric math (IF, AND, FILL, comparisons, arithmetic) as a function of one
    datapoint per metric id, None for a missing datapoint."""
    python: list[str] = []
    pos = 0
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        assert match, f"unexpected metric math at {expression[pos:]!r}"
        token = match.group(1)
        python.append({"IF": "_if", "AND": " and ", "FILL": "_fill"}.get(token, token))
        pos = match.end()
    code = compile("".join(python), "<metric math>", "eval")

    def evaluate(point: dict[str, float | None]) -> float:
        names: dict[str, Any] = {
            "_if": lambda cond, yes, no: yes if cond else no,
            "_fill": lambda value, filler: filler if value is None else value,
            **point,
        }
        result: float = eval(code, {"__builtins__": {}}, names)  # noqa: S307  (tokens checked)
        return result

    return evaluate


def thrashing(s: Synth) -> tuple[dict[str, Any], Callable[[dict[str, float | None]], float]]:
    alarm = alarms_by_name(s.service_template)[f"{s.config.alarm_name_prefix}-cache-thrashing"]
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    return alarm, metric_math(expression)


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_steady_state_alarms_are_gone(stage: str, request: pytest.FixtureRequest) -> None:
    s: Synth = request.getfixturevalue(stage)
    names = alarms_by_name(s.service_template)
    prefix = s.config.alarm_name_prefix
    assert f"{prefix}-cache-memory-full" not in names
    assert f"{prefix}-cache-evictions" not in names
    assert not hasattr(s.config.alarms, "redis_memory_percent")
    # No alarm judges Redis's memory against maxmemory any more (that is where it lives).
    for alarm in names.values():
        assert "RedisMemoryUsedPercent" not in str(alarm.get("Metrics", alarm.get("MetricName")))


# (hits, misses, evictions) per 5 minutes, all tasks; None: no datapoint
STEADY_FULL_CACHE = (9000.0, 1000.0, 5000.0)  # evicting all the time, 90 % hits
THRASHING = (300.0, 700.0, 650.0)  # evicted entries are read again: 30 % hits
COLD_AFTER_DEPLOY = (100.0, 900.0, None)  # misses fill an empty cache, nothing to evict
TTL_TOO_SHORT = (200.0, 800.0, 0.0)  # entries expire before the reads come back
QUIET = (5.0, 40.0, 500.0)  # too few reads for a ratio


@pytest.mark.parametrize(
    ("window", "fires"),
    [
        (STEADY_FULL_CACHE, False),
        (THRASHING, True),
        (COLD_AFTER_DEPLOY, False),
        (TTL_TOO_SHORT, False),
        (QUIET, False),
    ],
    ids=["full-cache", "thrashing", "cold-cache", "short-ttl", "quiet"],
)
def test_thrashing_fires_on_evictions_with_a_low_hit_ratio_only(
    dev: Synth, window: tuple[float, float, float | None], fires: bool
) -> None:
    alarm, evaluate = thrashing(dev)
    hits, misses, evictions = window
    value = evaluate({"hits": hits, "misses": misses, "evictions": evictions})
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert (value > alarm["Threshold"]) is fires, value


def test_thrashing_reads_the_hit_ratio_settings_and_sums_every_task(dev: Synth) -> None:
    alarm, _ = thrashing(dev)
    a = dev.config.alarms
    assert alarm["Threshold"] == a.evictions_per_5min == 100
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert {i: s["Metric"]["MetricName"] for i, s in stats.items()} == {
        "hits": "CacheHits",
        "misses": "CacheMisses",
        "evictions": "RedisEvictedKeys",
    }
    assert {(s["Stat"], s["Period"]) for s in stats.values()} == {("Sum", 300)}
    # The floors are the hit-ratio alarm's: a window below them is one cache-hit-ratio counts.
    noisy = load_stage(
        "dev",
        overrides={
            "alarms.cache_hit_ratio_floor_percent": "80",
            "alarms.min_cache_reads_per_5min": "10",
        },
    )
    spec = {s.key: s for s in d.alarm_specs(noisy, waf=False)}["cache-thrashing"]
    assert "below 80 % (with at least 10 reads)" in spec.watches


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_redis_memory_alarm_sits_above_a_full_cache(
    stage: str, request: pytest.FixtureRequest
) -> None:
    s: Synth = request.getfixturevalue(stage)
    alarm = alarms_by_name(s.service_template)[f"{s.config.alarm_name_prefix}-redis-memory"]
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    memory = metric_math(expression)
    limit_mib = s.config.redis.memory_mib
    full_cache_mib = s.config.redis.effective_maxmemory_mib
    # A full cache plus Redis's usual overhead stays quiet; growth toward the limit alarms.
    assert memory({"memory_redis": full_cache_mib * 1.05}) < alarm["Threshold"]
    assert memory({"memory_redis": limit_mib * 0.95}) > alarm["Threshold"]
    spec = {x.key: x for x in d.alarm_specs(s.config, waf=False)}["redis-memory"]
    assert "A full cache (its normal state) sits at maxmemory, 75 % of the limit" in spec.why
