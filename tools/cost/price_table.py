"""The pinned, dated price table (`tools/cost/prices.json`).

Each price carries its unit and its public source. `confirmed` is false for a price that was
not seen on a public page when the table was pinned (the page lists those); `free_per_month`
is an account-wide free allowance, subtracted only when `cost.apply_free_tiers` is on;
`price_list` names the AWS Price List entry `make prices` reads it from. `counts` holds the few
non-price facts a pricer needs (e.g. how many metrics Container Insights reports per task).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tools.cost.errors import CostError

PRICES_FILE: Final = Path(__file__).with_name("prices.json")
_REL: Final = "tools/cost/prices.json"


@dataclass(frozen=True, kw_only=True)
class Price:
    key: str
    usd: float
    unit: str
    source: str
    confirmed: bool
    note: str = ""
    free_per_month: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Count:
    key: str
    value: int
    unit: str
    source: str
    confirmed: bool
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class PriceTable:
    """One region's AWS prices, Render's prices and the counts, as of one date."""

    as_of: str
    region: str
    prices: Mapping[str, Price]
    counts: Mapping[str, Count]

    def price(self, key: str) -> Price:
        if key not in self.prices:
            raise CostError(
                f"{_REL} has no price {key!r} for {self.region}. Fix: add it with its unit, "
                "public source and date, or run `make prices` online"
            )
        return self.prices[key]

    def count(self, key: str) -> int:
        if key not in self.counts:
            raise CostError(f"{_REL} has no count {key!r}. Fix: add it with its source")
        return self.counts[key].value

    def unconfirmed(self) -> list[Price | Count]:
        """Every entry that was not seen on a public page when pinned, for the page's notes."""
        entries: list[Price | Count] = [*self.prices.values(), *self.counts.values()]
        return sorted((e for e in entries if not e.confirmed), key=lambda e: e.key)


def read_raw(path: Path = PRICES_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_table(region: str, path: Path = PRICES_FILE) -> PriceTable:
    """The table for `region`; a region the table does not hold is refused, naming the fix."""
    raw = read_raw(path)
    regions: Mapping[str, Any] = raw["regions"]
    if region not in regions:
        raise CostError(
            f"{_REL} has no prices for region {region} (it has {', '.join(sorted(regions))}). "
            f"Fix: run `make prices REGIONS={region}` where pricing.us-east-1.amazonaws.com "
            "is reachable, or estimate in a region the table has"
        )
    entries = {**regions[region], **raw["render"]}
    prices = {key: _price(key, entry) for key, entry in entries.items()}
    counts = {key: _count(key, entry) for key, entry in raw.get("counts", {}).items()}
    return PriceTable(as_of=str(raw["as_of"]), region=region, prices=prices, counts=counts)


def _checked(key: str, entry: Mapping[str, Any]) -> None:
    problems = []
    if not str(entry.get("source", "")).startswith("https://"):
        problems.append("no https source")
    if not entry.get("unit"):
        problems.append("no unit")
    if not isinstance(entry.get("confirmed"), bool):
        problems.append("no confirmed flag")
    elif not entry["confirmed"] and not entry.get("note"):
        problems.append("unconfirmed without a note saying why")
    if problems:
        raise CostError(f"{_REL}: entry {key!r}: {', '.join(problems)}")


def _price(key: str, entry: Mapping[str, Any]) -> Price:
    _checked(key, entry)
    usd = entry.get("usd")
    if not isinstance(usd, int | float) or usd < 0:
        raise CostError(f"{_REL}: entry {key!r}: usd must be a number >= 0, not {usd!r}")
    return Price(
        key=key,
        usd=float(usd),
        unit=str(entry["unit"]),
        source=str(entry["source"]),
        confirmed=bool(entry["confirmed"]),
        note=str(entry.get("note", "")),
        free_per_month=float(entry.get("free_per_month", 0.0)),
    )


def _count(key: str, entry: Mapping[str, Any]) -> Count:
    _checked(key, entry)
    value = entry.get("value")
    if not isinstance(value, int) or value < 0:
        raise CostError(f"{_REL}: count {key!r}: value must be an integer >= 0, not {value!r}")
    return Count(
        key=key,
        value=value,
        unit=str(entry["unit"]),
        source=str(entry["source"]),
        confirmed=bool(entry["confirmed"]),
        note=str(entry.get("note", "")),
    )
