"""`make prices`: refresh tools/cost/prices.json from AWS's public Price List bulk API.

No credentials: the offer index (`/offers/v1.0/aws/index.json`) names each service's region
index, which names the region's offer file; its CSV form is streamed row by row (AmazonEC2's
is several GB), keeping the on-demand USD rows whose usage type matches an entry's selector
(with or without the region's prefix, `USE1-`, `EU-`, ...). An entry takes the first paid tier:
the lowest starting range with a price above zero (free allowances are listed apart).

All or nothing: the table is rewritten only when every offer was read. Unreachable (offline),
it says so, leaves the table as it is and exits 3. An entry the list does not have keeps its
pinned price and is reported; Render's prices are not in AWS's list and are checked by hand.
A region the table lacks is added from us-east-1's entries, each marked unconfirmed until the
list confirms it.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tools.cost.price_table import PRICES_FILE, read_raw

DEFAULT_ENDPOINT: Final = "https://pricing.us-east-1.amazonaws.com"
OFFLINE_EXIT: Final = 3
_BASE_REGION: Final = "us-east-1"
# A usage type's region prefix: `USE1-`, `EU-`, `APS1-`, or the region code itself (KMS).
_PREFIX: Final = r"(?:[A-Z]{2,4}\d?-|[a-z]{2}-[a-z]+-\d-)?"


class Unreachable(Exception):
    """The price list could not be read; nothing was written."""


@dataclass(frozen=True)
class Tier:
    starting: float
    usd: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--regions", nargs="*", default=[], help="default: the table's regions")
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    parser.add_argument("--file", type=Path, default=PRICES_FILE)


def run(args: argparse.Namespace) -> int:
    raw = read_raw(args.file)
    regions = args.regions or sorted(raw["regions"])
    try:
        report = refresh(raw, regions, args.endpoint, args.timeout)
    except Unreachable as exc:
        print(
            f"offline: the price list is unreachable: {exc}. {args.file.name} is left as it "
            f"is (prices of {raw['as_of']}); run `make prices` where "
            "pricing.us-east-1.amazonaws.com is reachable",
            file=sys.stderr,
        )
        return OFFLINE_EXIT
    raw["as_of"] = datetime.datetime.now(datetime.UTC).date().isoformat()
    args.file.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    print("\n".join(report))
    print(f"wrote {args.file} (as of {raw['as_of']}); Render's prices are checked by hand")
    return 0


def refresh(raw: dict[str, Any], regions: list[str], endpoint: str, timeout: float) -> list[str]:
    """Update `raw` in place from the price list; the lines say what changed and what not."""
    prices = PriceList.open(endpoint, timeout)
    report: list[str] = []
    for region in regions:
        entries = raw["regions"].setdefault(region, _copied(raw["regions"][_BASE_REGION], region))
        for offer, keys in sorted(_by_offer(entries).items()):
            selectors = {key: entries[key]["price_list"] for key in keys}
            tiers = prices.tiers(offer, region, selectors)
            report += [_apply(region, key, entries[key], tiers.get(key)) for key in keys]
    return report


def _copied(base: Mapping[str, Any], region: str) -> dict[str, Any]:
    entries = json.loads(json.dumps(base))
    for entry in entries.values():
        if "price_list" in entry:
            entry["confirmed"] = False
            entry["note"] = f"copied from {_BASE_REGION}: not yet found in {region}'s price list"
    return dict(entries)


def _by_offer(entries: Mapping[str, Any]) -> dict[str, list[str]]:
    offers: dict[str, list[str]] = {}
    for key, entry in sorted(entries.items()):
        if "price_list" in entry:
            offers.setdefault(entry["price_list"]["offer"], []).append(key)
    return offers


@dataclass(frozen=True)
class PriceList:
    """The bulk API's offer index, and the offer files it leads to."""

    endpoint: str
    timeout: float
    index: Mapping[str, Any]

    @classmethod
    def open(cls, endpoint: str, timeout: float) -> PriceList:
        return cls(endpoint, timeout, _json(f"{endpoint}/offers/v1.0/aws/index.json", timeout))

    def offer_file(self, offer: str, region: str) -> str | None:
        """The CSV offer file of `offer` in `region`, if the list has one."""
        listed = self.index.get("offers", {}).get(offer)
        if listed is None:
            return None
        regional_index = _json(self.endpoint + listed["currentRegionIndexUrl"], self.timeout)
        regional = regional_index.get("regions", {}).get(region)
        if regional is None:
            return None
        return str(self.endpoint + regional["currentVersionUrl"].replace(".json", ".csv"))

    def tiers(
        self, offer: str, region: str, selectors: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, list[Tier]]:
        """Every on-demand tier of each selector's rows in the offer file."""
        url = self.offer_file(offer, region)
        if url is None:
            return {}
        matchers = {key: _matcher(selector) for key, selector in selectors.items()}
        found: dict[str, list[Tier]] = {}
        for row in _rows(url, self.timeout):
            for key, matches in matchers.items():
                if matches(row):
                    tier = Tier(float(row["StartingRange"] or 0), float(row["PricePerUnit"]))
                    found.setdefault(key, []).append(tier)
        return found


def _matcher(selector: Mapping[str, Any]) -> Any:
    usage = re.compile(_PREFIX + selector["usagetype"])
    operation = selector.get("operation")

    def matches(row: Mapping[str, str]) -> bool:
        return (
            row.get("TermType") == "OnDemand"
            and row.get("Currency") == "USD"
            and usage.fullmatch(row.get("usageType", "")) is not None
            and (operation is None or row.get("operation") == operation)
        )

    return matches


def _apply(region: str, key: str, entry: dict[str, Any], tiers: list[Tier] | None) -> str:
    paid = [t for t in tiers or [] if t.usd > 0]
    if not paid:
        return (
            f"  {region} {key}: not in the price list ({entry['price_list']}): kept {entry['usd']}"
        )
    first = min(t.starting for t in paid)
    prices = {t.usd for t in paid if t.starting == first}
    if len(prices) > 1:
        return f"  {region} {key}: ambiguous ({sorted(prices)}): kept {entry['usd']}"
    usd = round(prices.pop() * float(entry["price_list"].get("per", 1)), 10)
    old = entry["usd"]
    entry["usd"], entry["confirmed"] = usd, True
    entry.pop("note", None)
    return f"  {region} {key}: {old} -> {usd}" if usd != old else f"  {region} {key}: {usd}"


def _json(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - https
            data: dict[str, Any] = json.load(response)
            return data
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unreachable(f"could not read {url} ({_reason(exc)})") from exc


def _rows(url: str, timeout: float) -> Iterator[dict[str, str]]:
    """The offer file's price rows (its first lines are metadata, then the header)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - https
            lines = io.TextIOWrapper(response, encoding="utf-8", newline="")
            for line in lines:
                if line.startswith('"SKU"'):
                    header = next(csv.reader([line]))
                    yield from csv.DictReader(lines, fieldnames=header)
                    return
    except (urllib.error.URLError, OSError, csv.Error) as exc:
        raise Unreachable(f"could not read {url} ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)
