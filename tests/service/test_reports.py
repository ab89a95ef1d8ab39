"""Payload builders (service/reports.py): arithmetic on hand-made rows."""

from __future__ import annotations

import pytest

from service.reports import dashboard_payload, portfolio_payload, top_picks_payload
from service.source import HoldingRow, PickRow, PortfolioRows

ROWS = PortfolioRows(
    7,
    "Test User",
    (
        HoldingRow("AAA", "Aaa Corp", 10.0, 5.0, 6.0, 5.0),  # +20% today, value 60
        HoldingRow("BBB", "Bbb Corp", 2.0, 50.0, 20.0, 25.0),  # -20% today, value 40
        HoldingRow("CCC", "Ccc Corp", 1.0, 100.0, 100.0, 99.0),  # +1.01% today, value 100
        HoldingRow("DDD", "Ddd Corp", 4.0, 10.0, 25.0, 25.0),  # flat, value 100
    ),
)


def test_portfolio_values() -> None:
    body = portfolio_payload(ROWS)
    by_symbol = {h["symbol"]: h for h in body["holdings"]}
    assert by_symbol["AAA"]["market_value"] == 60.0
    assert by_symbol["AAA"]["unrealized_pnl"] == 10.0
    assert by_symbol["BBB"]["unrealized_pnl"] == -60.0
    assert body["total_market_value"] == 300.0
    assert body["total_cost_basis"] == 50.0 + 100.0 + 100.0 + 40.0
    assert body["total_unrealized_pnl"] == 300.0 - 290.0


def test_dashboard_totals_allocation_and_movers() -> None:
    body = dashboard_payload(ROWS)
    totals = body["totals"]
    assert totals["market_value"] == 300.0
    assert totals["unrealized_pnl_pct"] == pytest.approx(10 / 290 * 100, abs=0.01)
    prev = 50.0 + 50.0 + 99.0 + 100.0
    assert totals["day_change"] == 300.0 - prev
    assert totals["day_change_pct"] == round((300.0 - prev) / prev * 100, 2)
    assert totals["positions"] == 4
    # Largest position first; ties broken by symbol.
    assert [a["symbol"] for a in body["allocation"]] == ["CCC", "DDD", "AAA", "BBB"]
    assert sum(a["weight_pct"] for a in body["allocation"]) == pytest.approx(100, abs=0.05)
    # Biggest absolute move first, three of them.
    assert [(m["symbol"], m["change_pct"]) for m in body["top_movers"]] == [
        ("AAA", 20.0),
        ("BBB", -20.0),
        ("CCC", 1.01),
    ]


def test_top_picks_payload() -> None:
    rows = [PickRow(1, "AAA", "Aaa Corp", 0.9, 110.0, 100.0)]
    assert top_picks_payload(rows, 5) == {
        "limit": 5,
        "picks": [
            {
                "rank": 1,
                "symbol": "AAA",
                "name": "Aaa Corp",
                "score": 0.9,
                "price": 110.0,
                "change_pct": 10.0,
            }
        ],
    }
