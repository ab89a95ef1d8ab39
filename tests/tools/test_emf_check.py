"""The rehearsal's EMF check (tools/rehearsal/emf_check.py) on service output it may meet."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service import emf_catalog as cat
from tools.rehearsal.emf_check import PORTFOLIO_ROUTE, check_emf
from tools.rehearsal.processes import RehearsalError

NAMESPACE = cat.DEFAULT_NAMESPACE


def requests_record(status: str, count: int, *, namespace: str = NAMESPACE) -> dict[str, Any]:
    """A Requests record as service/emf.py writes it."""
    return {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(cat.REQUEST_DIMENSIONS)],
                    "Metrics": [{"Name": cat.REQUESTS.name, "Unit": cat.REQUESTS.unit}],
                }
            ],
        },
        cat.PROP_RECORD: "requests",
        cat.DIM_STAGE: "dev",
        cat.DIM_SERVICE: "fyntrix-service-dev",
        cat.DIM_ROUTE: PORTFOLIO_ROUTE,
        cat.DIM_CACHE_STATUS: status,
        cat.REQUESTS.name: count,
    }


def output(*records: dict[str, Any]) -> str:
    lines = ["INFO:     Uvicorn running on http://127.0.0.1:8000", *map(json.dumps, records)]
    return "\n".join(lines) + "\n"


def test_counts_over_several_flushes_and_summarises() -> None:
    # The MISS and the HIT may fall into two intervals: both flushes count.
    text = output(requests_record("MISS", 1), requests_record("NONE", 2), requests_record("HIT", 1))
    line = check_emf(lambda: text, namespace=NAMESPACE, wait_s=0)
    assert line == f"3 records in {NAMESPACE}: portfolio HIT 1, MISS 1; schema valid"


def test_waits_for_the_flush_that_counts_the_hit() -> None:
    reads = iter([output(requests_record("MISS", 1))] * 2)
    later = output(requests_record("MISS", 1), requests_record("HIT", 1))
    line = check_emf(lambda: next(reads, later), namespace=NAMESPACE, wait_s=5)
    assert "portfolio HIT 1, MISS 1" in line


def test_no_flush_in_time_fails_with_what_was_seen() -> None:
    text = output(requests_record("MISS", 1))
    with pytest.raises(RehearsalError) as err:
        check_emf(lambda: text, namespace=NAMESPACE, wait_s=0.3)
    assert "no EMF flush counted the portfolio MISS and HIT within 0 s" in str(err.value)
    assert "{'MISS': 1}" in str(err.value)


def test_an_invalid_record_fails_naming_it() -> None:
    broken = requests_record("HIT", 1)
    del broken[cat.REQUESTS.name]  # a declared metric with no value
    with pytest.raises(RehearsalError, match="EMF record 2 is not valid EMF: metric 'Requests'"):
        check_emf(
            lambda: output(requests_record("MISS", 1), broken, requests_record("HIT", 1)),
            namespace=NAMESPACE,
            wait_s=0,
        )


def test_another_namespace_fails() -> None:
    text = output(requests_record("MISS", 1), requests_record("HIT", 1, namespace="Other"))
    with pytest.raises(RehearsalError, match=r"namespace\(s\) \['Fyntrix/Service', 'Other'\]"):
        check_emf(lambda: text, namespace=NAMESPACE, wait_s=0)


def test_an_unreadable_line_fails() -> None:
    text = output(requests_record("MISS", 1)) + '{"_aws": {"Timestamp": \n'
    with pytest.raises(RehearsalError, match="unreadable EMF line"):
        check_emf(lambda: text, namespace=NAMESPACE, wait_s=0)
