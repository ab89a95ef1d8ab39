"""What the read endpoints return, built from source rows as serialized JSON bytes.

Pure functions plus thin loaders; the loaders are what the cache calls on a miss. Money is
rounded to cents and percentages to 2 decimals, identically whatever the backend.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from service.source import PickRow, PortfolioRows, Source

TOP_MOVERS = 3
# Percentages of a whole under half a cent are 0: their ratio means nothing, and a tiny whole
# (a cost basis of 1e-300) would make the ratio overflow to infinity, which JSON cannot carry.
_MIN_WHOLE = 0.005


def _pct(part: float, whole: float) -> float:
    if abs(whole) < _MIN_WHOLE:
        return 0.0
    pct = round(part / whole * 100, 2)
    return pct if math.isfinite(pct) else 0.0


def _change_pct(price: float, prev_close: float) -> float:
    return _pct(price - prev_close, prev_close)


def portfolio_payload(rows: PortfolioRows) -> dict[str, Any]:
    holdings = []
    total_value = total_cost = 0.0
    for h in rows.holdings:
        value = h.quantity * h.price
        cost = h.quantity * h.cost_basis
        total_value += value
        total_cost += cost
        holdings.append(
            {
                "symbol": h.symbol,
                "name": h.name,
                "quantity": h.quantity,
                "cost_basis": h.cost_basis,
                "price": h.price,
                "market_value": round(value, 2),
                "unrealized_pnl": round(value - cost, 2),
            }
        )
    return {
        "user_id": rows.user_id,
        "name": rows.name,
        "holdings": holdings,
        "total_market_value": round(total_value, 2),
        "total_cost_basis": round(total_cost, 2),
        "total_unrealized_pnl": round(total_value - total_cost, 2),
    }


def dashboard_payload(rows: PortfolioRows) -> dict[str, Any]:
    value = sum(h.quantity * h.price for h in rows.holdings)
    cost = sum(h.quantity * h.cost_basis for h in rows.holdings)
    prev_value = sum(h.quantity * h.prev_close for h in rows.holdings)
    by_value = sorted(rows.holdings, key=lambda h: (-(h.quantity * h.price), h.symbol))
    allocation = [
        {
            "symbol": h.symbol,
            "market_value": round(h.quantity * h.price, 2),
            "weight_pct": _pct(h.quantity * h.price, value),
        }
        for h in by_value
    ]
    by_move = sorted(
        rows.holdings, key=lambda h: (-abs(_change_pct(h.price, h.prev_close)), h.symbol)
    )
    movers = [
        {
            "symbol": h.symbol,
            "price": h.price,
            "prev_close": h.prev_close,
            "change_pct": _change_pct(h.price, h.prev_close),
        }
        for h in by_move[:TOP_MOVERS]
    ]
    return {
        "user_id": rows.user_id,
        "name": rows.name,
        "totals": {
            "market_value": round(value, 2),
            "cost_basis": round(cost, 2),
            "unrealized_pnl": round(value - cost, 2),
            "unrealized_pnl_pct": _pct(value - cost, cost),
            "day_change": round(value - prev_value, 2),
            "day_change_pct": _pct(value - prev_value, prev_value),
            "positions": len(rows.holdings),
        },
        "allocation": allocation,
        "top_movers": movers,
    }


def top_picks_payload(rows: list[PickRow], limit: int) -> dict[str, Any]:
    return {
        "limit": limit,
        "picks": [
            {
                "rank": p.rank,
                "symbol": p.symbol,
                "name": p.name,
                "score": p.score,
                "price": p.price,
                "change_pct": _change_pct(p.price, p.prev_close),
            }
            for p in rows
        ],
    }


async def load_portfolio(source: Source, user_id: int) -> bytes | None:
    rows = await source.portfolio(user_id)
    return None if rows is None else orjson.dumps(portfolio_payload(rows))


async def load_dashboard(source: Source, user_id: int) -> bytes | None:
    rows = await source.portfolio(user_id)
    return None if rows is None else orjson.dumps(dashboard_payload(rows))


async def load_top_picks(source: Source, limit: int) -> bytes:
    return orjson.dumps(top_picks_payload(await source.top_picks(limit), limit))
