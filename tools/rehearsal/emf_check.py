"""The service's EMF records, checked where the rehearsal ran it.

The service writes its CloudWatch figures to stdout as embedded-metric-format records; in AWS
the awslogs driver ships them and CloudWatch extracts the metrics. The rehearsal has no
CloudWatch, so it reads the same lines from the service's output, validates them against the
EMF specification (tools/emf_records.py) and checks that the Requests records count the rehearsal's
own cached reads: the portfolio route answered MISS, then HIT.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs for jsonschema

from service import emf_catalog as cat
from tools import emf_records as emf
from tools.rehearsal.processes import RehearsalError

PORTFOLIO_ROUTE = "/api/portfolio/{user_id}"
# The rehearsal runs the service with this flush interval (the deployed default is 60 s): short,
# since every `make up` waits for the flush after its requests.
FLUSH_INTERVAL_S = 0.25
# How often the output is reread while waiting for that flush.
POLL_INTERVAL_S = 0.05
# A flush is due within one interval of the last request; allow a few for a busy machine.
WAIT_S = 8.0


def portfolio_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """Requests on the portfolio route by cache status, summed over every flush."""
    counts: dict[str, int] = {}
    for record in records:
        if record.get(cat.PROP_RECORD) == "requests" and record.get(cat.DIM_ROUTE) == (
            PORTFOLIO_ROUTE
        ):
            status = str(record[cat.DIM_CACHE_STATUS])
            counts[status] = counts.get(status, 0) + int(record[cat.REQUESTS.name])
    return counts


def _valid_records(text: str) -> list[dict[str, Any]]:
    """Every EMF record in `text`, each valid EMF; RehearsalError naming the first that is not."""
    try:
        records = emf.records_from(text)
    except (AssertionError, json.JSONDecodeError) as exc:
        raise RehearsalError(f"the service wrote an unreadable EMF line: {exc}") from exc
    for index, record in enumerate(records):
        try:
            emf.validate_record(record)
        except (jsonschema.ValidationError, AssertionError) as exc:
            reason = exc.message if isinstance(exc, jsonschema.ValidationError) else exc
            raise RehearsalError(f"EMF record {index + 1} is not valid EMF: {reason}") from exc
    return records


def check_emf(read_output: Callable[[], str], *, namespace: str, wait_s: float = WAIT_S) -> str:
    """Wait (bounded) until the service's output holds a flush counting the portfolio MISS and
    HIT, every record valid, and return the one-line summary; RehearsalError otherwise."""
    deadline = time.monotonic() + wait_s
    while True:
        text = read_output()
        # Only whole lines: a flush may be half written.
        records = _valid_records(text[: text.rfind("\n") + 1])
        counts = portfolio_counts(records)
        if counts.get("HIT", 0) >= 1 and counts.get("MISS", 0) >= 1:
            break
        if time.monotonic() > deadline:
            raise RehearsalError(
                f"no EMF flush counted the portfolio MISS and HIT within {wait_s:.0f} s "
                f"({len(records)} records, portfolio counts {counts or 'none'})"
            )
        time.sleep(POLL_INTERVAL_S)
    spaces = {d["Namespace"] for r in records for d in r["_aws"]["CloudWatchMetrics"]}
    if spaces != {namespace}:
        raise RehearsalError(f"EMF records in namespace(s) {sorted(spaces)}, not {namespace}")
    return (
        f"{len(records)} records in {namespace}: portfolio HIT {counts['HIT']}, "
        f"MISS {counts['MISS']}; schema valid"
    )
