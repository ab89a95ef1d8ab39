"""Read and check the service's EMF records (service/emf.py) from captured stdout.

validate_record() applies the EMF specification: the JSON schema in tools/emf_schema.json
for the document's structure, and the reference rules JSON Schema cannot express (every
dimension key names a root member holding a string; every metric name names a root member
holding a number, at most 100 numbers, or a Values/Counts histogram).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs for jsonschema

SCHEMA_PATH = Path(__file__).with_name("emf_schema.json")
# Docker's log drivers split lines longer than 16 KiB into several events: stay below it.
MAX_LINE_BYTES = 16 * 1024


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _validator(ref: str | None = None) -> jsonschema.Draft202012Validator:
    schema = _schema()
    if ref is not None:
        schema = {**schema, "$ref": f"#/$defs/{ref}"}
        schema.pop("required", None)
        schema.pop("properties", None)
        schema.pop("type", None)
    return jsonschema.Draft202012Validator(schema)


def records_from(text: str) -> list[dict[str, Any]]:
    """Every EMF record in `text` (lines holding a JSON object with an `_aws` member)."""
    records = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            assert len(line.encode()) < MAX_LINE_BYTES, f"EMF line of {len(line)} bytes"
            records.append(json.loads(line))
    return records


def validate_record(record: dict[str, Any]) -> None:
    """Raise (jsonschema.ValidationError or AssertionError) unless `record` is valid EMF."""
    _validator().validate(record)
    dimension_target, metric_target = _validator("DimensionTarget"), _validator("MetricTarget")
    for directive in record["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                assert key in record, f"dimension {key!r} is not a root member"
                dimension_target.validate(record[key])
        for definition in directive["Metrics"]:
            name = definition["Name"]
            assert name in record, f"metric {name!r} is not a root member"
            metric_target.validate(record[name])
            value = record[name]
            if isinstance(value, dict):
                assert len(value["Values"]) == len(value["Counts"]), name
                assert sum(value["Counts"]) == value["Count"], name
                assert value["Min"] <= min(value["Values"]) <= max(value["Values"]) <= value["Max"]


def validate_all(records: Iterable[dict[str, Any]]) -> None:
    for record in records:
        validate_record(record)


def merge_histograms(values: Iterable[dict[str, Any]]) -> list[tuple[float, int]]:
    """(value, count) pairs of several EMF histogram values, sorted by value."""
    pairs: list[tuple[float, int]] = []
    for value in values:
        pairs += zip(value["Values"], value["Counts"], strict=True)
    return sorted(pairs)


def percentile(pairs: list[tuple[float, int]], p: float) -> float:
    """The p-th percentile (0..100) of a (value, count) distribution, as CloudWatch ranks it."""
    total = sum(c for _, c in pairs)
    rank = max(1, math.ceil(total * p / 100))
    seen = 0
    for value, count in pairs:
        seen += count
        if seen >= rank:
            return value
    raise ValueError("empty distribution")
