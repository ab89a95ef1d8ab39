"""The alarms and the dashboard read the metric names the service's EMF records publish.

infra/monitoring_design.py takes its names from the service's metric catalogue
(service/emf_catalog.py); this test pins the names and units the alarms assume (an alarm on a
Percent metric with a Count threshold would be silently wrong).
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

from infra import monitoring_design as d


def catalogue() -> ModuleType:
    return importlib.import_module("service.emf_catalog")


def test_namespace_and_dimensions_match_the_emitter() -> None:
    cat = catalogue()
    assert d.EMF_NAMESPACE == cat.DEFAULT_NAMESPACE
    assert (d.EMF_DIM_STAGE, d.EMF_DIM_SERVICE) == cat.SERVICE_DIMENSIONS


@pytest.mark.parametrize(
    ("mirrored", "spec", "unit"),
    [
        (d.EMF_CACHE_HITS, "CACHE_HITS", "Count"),
        (d.EMF_CACHE_MISSES, "CACHE_MISSES", "Count"),
        (d.EMF_CACHE_BYPASSES, "CACHE_BYPASSES", "Count"),
        (d.EMF_CACHED_READ_LATENCY, "CACHED_READ_LATENCY", "Milliseconds"),
        (d.EMF_UNCACHED_READ_LATENCY, "UNCACHED_READ_LATENCY", "Milliseconds"),
        (d.EMF_REDIS_MEMORY_USED_PERCENT, "REDIS_MEMORY_USED_PERCENT", "Percent"),
        (d.EMF_REDIS_EVICTED_KEYS, "REDIS_EVICTED_KEYS", "Count"),
        (d.EMF_BREAKER_OPEN, "BREAKER_OPEN", "None"),
    ],
)
def test_metric_names_and_units_match_the_emitter(mirrored: str, spec: str, unit: str) -> None:
    metric = getattr(catalogue(), spec)
    assert metric.name == mirrored
    # The thresholds assume these units: percent 0-100, counts per period, milliseconds.
    assert metric.unit == unit
