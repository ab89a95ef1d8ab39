"""Request bodies (validated) and response shapes (documented in OpenAPI).

Read endpoints return pre-serialized bytes straight from the cache, so the response models are
not run on the hot path: reports.py must keep producing exactly these shapes (a test checks
responses against the OpenAPI schema).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

# Postgres `integer`: larger ids cannot exist, and must be a 422, not a database error.
MAX_USER_ID = 2_147_483_647
MAX_PICKS = 50

UserId = Annotated[int, Path(ge=1, le=MAX_USER_ID, description="Numeric user id.")]
Symbol = Annotated[
    str,
    Path(
        pattern=r"^[A-Z][A-Z0-9.\-]{0,9}$",
        description="Ticker symbol, upper case, e.g. AAPL or BRK.B.",
    ),
]


class HoldingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    # Bounded both ways so every figure derived from them stays a finite double.
    quantity: float = Field(
        ge=1e-6, le=1e12, description="Number of shares held (>= 0.000001; fractions allowed)."
    )
    cost_basis: float = Field(
        ge=0, le=1e12, description="Average cost per share, in the price currency (>= 0)."
    )


class HoldingOut(BaseModel):
    user_id: int
    symbol: str
    quantity: float
    cost_basis: float


class PortfolioHolding(BaseModel):
    symbol: str
    name: str
    quantity: float
    cost_basis: float
    price: float
    market_value: float
    unrealized_pnl: float


class Portfolio(BaseModel):
    user_id: int
    name: str
    holdings: list[PortfolioHolding]
    total_market_value: float
    total_cost_basis: float
    total_unrealized_pnl: float


class Totals(BaseModel):
    market_value: float
    cost_basis: float
    unrealized_pnl: float
    unrealized_pnl_pct: float
    day_change: float
    day_change_pct: float
    positions: int


class Allocation(BaseModel):
    symbol: str
    market_value: float
    weight_pct: float


class Mover(BaseModel):
    symbol: str
    price: float
    prev_close: float
    change_pct: float


class Dashboard(BaseModel):
    user_id: int
    name: str
    totals: Totals
    allocation: list[Allocation]
    top_movers: list[Mover]


class Pick(BaseModel):
    rank: int
    symbol: str
    name: str
    score: float
    price: float
    change_pct: float


class TopPicks(BaseModel):
    limit: int
    picks: list[Pick]


class Problem(BaseModel):
    detail: str
