"""`make prices` against a real HTTP server holding a small price list in AWS's formats.

AWS's endpoint cannot be reached here; the server serves the offer index, the region indexes
and CSV offer files laid out and formatted as pricing.us-east-1.amazonaws.com serves them.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.cost.__main__ import main
from tools.cost.price_table import PRICES_FILE, load_table, read_raw

_HEADER = (
    '"SKU","OfferTermCode","RateCode","TermType","PriceDescription","EffectiveDate",'
    '"StartingRange","EndingRange","Unit","PricePerUnit","Currency","Product Family",'
    '"serviceCode","Location","Location Type","usageType","operation"'
)
# (offer, region) -> rows of (term, usage type, operation, starting range, price)
_ROWS: dict[tuple[str, str], list[tuple[str, str, str, str, str]]] = {
    ("AmazonECS", "us-east-1"): [
        ("OnDemand", "Fargate-vCPU-Hours:perCPU", "", "0", "0.0500000000"),
        ("Reserved", "Fargate-vCPU-Hours:perCPU", "", "0", "0.0300000000"),
        ("OnDemand", "USE1-Fargate-GB-Hours", "", "0", "0.0044450000"),
    ],
    ("AmazonECS", "eu-west-1"): [
        ("OnDemand", "EU-Fargate-vCPU-Hours:perCPU", "", "0", "0.0445600000"),
    ],
    ("awskms", "us-east-1"): [
        ("OnDemand", "us-east-1-KMS-Keys", "", "0", "1.0000000000"),
        ("OnDemand", "us-east-1-KMS-Requests", "", "0", "0.0000030000"),
    ],
    ("AmazonCognito", "us-east-1"): [
        ("OnDemand", "USE1-CognitoEssentialsMAU", "", "0", "0.0000000000"),
        ("OnDemand", "USE1-CognitoEssentialsMAU", "", "10000", "0.0160000000"),
        ("OnDemand", "USE1-CognitoEssentialsMAU", "", "100000", "0.0130000000"),
    ],
}


def _offer_csv(offer: str, rows: list[tuple[str, str, str, str, str]]) -> str:
    head = [
        '"FormatVersion","v1.0"',
        '"Disclaimer","This pricing list is for informational purposes only."',
        '"Publication Date","2026-12-01T00:00:00Z"',
        '"Version","20261201000000"',
        f'"OfferCode","{offer}"',
        _HEADER,
    ]
    body = [
        f'"SKU{n}","T","R","{term}","d","2026-12-01","{start}","Inf","Hrs","{price}","USD",'
        f'"f","{offer}","loc","AWS Region","{usage}","{operation}"'
        for n, (term, usage, operation, start, price) in enumerate(rows)
    ]
    return "\n".join(head + body) + "\n"


def _write_price_list(root: Path, broken_offer: str | None = None) -> None:
    base = root / "offers" / "v1.0" / "aws"
    offers = {}
    for offer in sorted({o for o, _ in _ROWS} | ({broken_offer} if broken_offer else set())):
        offers[offer] = {
            "currentRegionIndexUrl": f"/offers/v1.0/aws/{offer}/current/region_index.json"
        }
        regions = {
            region: {"currentVersionUrl": f"/offers/v1.0/aws/{offer}/20261201/{region}/index.json"}
            for o, region in _ROWS
            if o == offer
        }
        if offer != broken_offer:  # a broken offer's region index is missing: a 404
            (base / offer / "current").mkdir(parents=True)
            (base / offer / "current" / "region_index.json").write_text(
                json.dumps({"regions": regions})
            )
        for region in regions:
            folder = base / offer / "20261201" / region
            folder.mkdir(parents=True)
            (folder / "index.csv").write_text(_offer_csv(offer, _ROWS[(offer, region)]))
    (base / "index.json").write_text(json.dumps({"offers": offers}))


@functools.cache
def _quiet_handler() -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _serve(root: Path) -> Iterator[str]:
    handler = functools.partial(_quiet_handler(), directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def price_list(tmp_path: Path) -> Iterator[str]:
    _write_price_list(tmp_path / "list")
    yield from _serve(tmp_path / "list")


@pytest.fixture
def table_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "prices.json"
    shutil.copy(PRICES_FILE, copy)
    return copy


def test_a_refresh_takes_the_first_paid_on_demand_tier_and_dates_the_table(
    price_list: str, table_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = read_raw(table_copy)["regions"]["us-east-1"]
    assert main(["prices", "--endpoint", price_list, "--file", str(table_copy)]) == 0
    after = read_raw(table_copy)
    prices = after["regions"]["us-east-1"]
    assert prices["fargate.vcpu_hour"]["usd"] == 0.05  # on-demand, not the reserved row
    assert prices["fargate.gb_hour"]["usd"] == 0.004445  # with the USE1- prefix
    assert prices["kms.key_month"]["usd"] == 1.0  # the region-code prefix, KMS-Requests not taken
    assert prices["cognito.essentials_mau"]["usd"] == 0.016  # the first tier after the free one
    # an entry the list did not have keeps its pinned price and is reported
    assert prices["nat.hour"] == before["nat.hour"]
    out = capsys.readouterr().out
    assert "us-east-1 fargate.vcpu_hour: 0.04048 -> 0.05" in out
    assert "us-east-1 nat.hour: not in the price list" in out
    assert after["as_of"] == datetime.datetime.now(datetime.UTC).date().isoformat()
    assert load_table("us-east-1", table_copy).price("fargate.vcpu_hour").usd == 0.05


def test_a_new_region_is_added_unconfirmed_until_the_list_confirms_each_price(
    price_list: str, table_copy: Path
) -> None:
    argv = ["prices", "--regions", "eu-west-1", "--endpoint", price_list, "--file", str(table_copy)]
    assert main(argv) == 0
    table = load_table("eu-west-1", table_copy)
    assert table.price("fargate.vcpu_hour").usd == 0.04456
    assert table.price("fargate.vcpu_hour").confirmed
    nat = table.price("nat.hour")
    assert not nat.confirmed and "copied from us-east-1" in nat.note
    assert load_table("us-east-1", table_copy).price("fargate.vcpu_hour").usd == 0.04048


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_it_says_so_and_leaves_the_table_untouched(
    table_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = table_copy.read_bytes()
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    assert (
        main(["prices", "--endpoint", endpoint, "--file", str(table_copy), "--timeout", "5"]) == 3
    )
    err = capsys.readouterr().err
    assert "offline: the price list is unreachable" in err
    assert "left as it is" in err
    assert table_copy.read_bytes() == before


def test_a_list_that_fails_half_way_writes_nothing(tmp_path: Path, table_copy: Path) -> None:
    _write_price_list(tmp_path / "list", broken_offer="AWSELB")
    before = table_copy.read_bytes()
    for endpoint in _serve(tmp_path / "list"):
        assert main(["prices", "--endpoint", endpoint, "--file", str(table_copy)]) == 3
    assert table_copy.read_bytes() == before
