"""Cache key names. Namespaces are the part before the first colon."""

from __future__ import annotations

from typing import Final

PORTFOLIO: Final = "portfolio"
DASHBOARD: Final = "dashboard"
TOP_PICKS: Final = "top_picks"
# Every namespace; each has a TTL setting (CACHE_TTL_<NS>_S). The infra config's
# app.cache_ttl_s names the same ones (tests/service/test_infra_parity.py pins them).
NAMESPACES: Final = (PORTFOLIO, DASHBOARD, TOP_PICKS)

# Namespaces that holding writes invalidate: the ones to flush when invalidation notices may
# have been missed (top picks do not depend on holdings and age out by TTL).
WRITE_INVALIDATED: Final = (PORTFOLIO, DASHBOARD)


def portfolio_key(user_id: int) -> str:
    return f"{PORTFOLIO}:{user_id}"


def dashboard_key(user_id: int) -> str:
    return f"{DASHBOARD}:{user_id}"


def top_picks_key(limit: int) -> str:
    return f"{TOP_PICKS}:{limit}"


def user_keys(user_id: int) -> tuple[str, str]:
    """Every key a change to the user's holdings makes stale."""
    return portfolio_key(user_id), dashboard_key(user_id)
