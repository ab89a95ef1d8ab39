"""HTTP routes. Thin: validation here, logic in reports.py / cache.py / source/."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service import reads
from service.auth.guard import Authorizer, Decision, challenge
from service.auth.tokens import AuthError, Principal
from service.cache import Cache, CacheStatus, CacheUnavailableError, Loader
from service.invalidation import InvalidationListener
from service.keys import dashboard_key, portfolio_key, top_picks_key, user_keys
from service.metrics import Metrics
from service.models import (
    MAX_PICKS,
    Dashboard,
    HoldingIn,
    HoldingOut,
    Portfolio,
    Problem,
    Symbol,
    TopPicks,
    UserId,
)
from service.reports import load_dashboard, load_portfolio, load_top_picks
from service.settings import Settings
from service.source import SourceNotConfiguredError, SourceUnavailableError
from service.source.guard import GuardedSource

JSON = "application/json"
_HEALTH_BODY = b'{"status":"ok"}'

_X_CACHE = {
    "X-Cache": {
        "description": "HIT (L1 or Redis), MISS (loaded and cached), BYPASS (cache unavailable) "
        "or STALE (the database failed: a copy that expired less than CACHE_STALE_IF_ERROR_S "
        "ago).",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "BYPASS", "STALE"]},
    },
    "Age": {
        "description": "STALE only: seconds since the copy was read from the database.",
        "schema": {"type": "integer"},
    },
    "Cache-Control": {
        "description": "STALE only: `max-age=0, stale-if-error=<CACHE_STALE_IF_ERROR_S>`.",
        "schema": {"type": "string"},
    },
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {}},
}
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Problem,
        "description": "The source of truth is unavailable (and, for a read, no copy of it "
        "expired less than CACHE_STALE_IF_ERROR_S ago).",
        "headers": _RETRY_AFTER,
    },
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown user."},
    **_UNAVAILABLE,
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "Bearer challenge (RFC 6750) with the reason.",
        "schema": {"type": "string"},
    }
}
# Every /api/* route: the gate (service/auth/guard.py) answers these before the route runs.
_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "Missing, malformed, expired or wrongly signed or addressed token.",
        "headers": _WWW_AUTHENTICATE,
    },
    413: {"model": Problem, "description": "Request body larger than MAX_BODY_BYTES."},
    503: {"model": Problem, "description": "Signing keys or the source of truth unavailable."},
}
_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "The token may not act for this user."},
}
# Declares the scheme in OpenAPI; the token itself was verified by the gate already.
_bearer = HTTPBearer(
    bearerFormat="JWT",
    description="A Cognito user-pool access token (local stage: `python -m service.ops token`).",
    auto_error=False,
)


@dataclass(frozen=True)
class Services:
    settings: Settings
    source: GuardedSource
    cache: Cache
    listener: InvalidationListener | None
    metrics: Metrics
    instance_id: str
    authorizer: Authorizer


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _respond(data: bytes | None, cache_status: CacheStatus, missing: str) -> Response:
    headers = {"X-Cache": cache_status.value}
    if data is None:
        return JSONResponse({"detail": missing}, status_code=404, headers=headers)
    return Response(content=data, media_type=JSON, headers=headers)


async def _cached_read(
    svc: Services, key: str, ttl_s: int, loader: Loader, missing: str
) -> Response:
    """The cached read of `key`; when the source fails, its stale copy within
    CACHE_STALE_IF_ERROR_S (RFC 5861 stale-if-error), else the failure (503)."""
    try:
        data, cache_status = await svc.cache.fetch(key, ttl_s, loader)
    except SourceUnavailableError:
        stale = await svc.cache.stale_copy(key)
        if stale is None:
            raise
        body, age_s = stale
        headers = {
            "X-Cache": CacheStatus.STALE.value,
            "Age": str(int(age_s)),
            "Cache-Control": f"max-age=0, stale-if-error={svc.settings.cache_stale_if_error_s}",
        }
        return Response(content=body, media_type=JSON, headers=headers)
    return _respond(data, cache_status, missing)


def _allowed(decision: Decision) -> Principal:
    """The decision's Principal, or its refusal raised as the HTTP error the gate would send."""
    if isinstance(decision, AuthError):
        if decision.status == 401:
            headers = {"WWW-Authenticate": challenge(decision).decode()}
        else:
            headers = {"Retry-After": "1"} if decision.status == 503 else {}
        raise HTTPException(decision.status, decision.reason, headers=headers or None)
    return decision


async def principal(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller. The gate (service/auth/guard.py) has answered 401 before routing already;
    this is the same decision (Authorizer.decide), from the verified-token cache."""
    return _allowed(await services(request).authorizer.decide(request.scope["headers"], None))


async def acting_for(request: Request, user_id: UserId) -> int:
    """`user_id`, when the caller may act for that user (its own, or any for admins); else 403.
    The same decision the hit layer (service/front.py) takes for its answers."""
    _allowed(await services(request).authorizer.decide(request.scope["headers"], user_id))
    return user_id


Owner = Annotated[int, Depends(acting_for)]

router = APIRouter()  # anonymous: liveness, on the public port
# Anonymous ops endpoints: on OPS_PORT when set (service/ops_port.py), else beside `router`.
ops_router = APIRouter()
api = APIRouter(dependencies=[Depends(principal)], responses=_AUTH_RESPONSES)


@api.get(
    reads.PORTFOLIO,
    response_model=Portfolio,
    responses={200: {"headers": _X_CACHE}, **_FORBIDDEN, **_NOT_FOUND},
    tags=["portfolio"],
    summary="Holdings with market value",
)
async def get_portfolio(request: Request, user_id: Owner) -> Response:
    svc = services(request)
    loader = partial(load_portfolio, svc.source, user_id)
    return await _cached_read(
        svc,
        portfolio_key(user_id),
        svc.settings.cache_ttl_portfolio_s,
        loader,
        f"user {user_id} not found",
    )


@api.get(
    reads.DASHBOARD,
    response_model=Dashboard,
    responses={200: {"headers": _X_CACHE}, **_FORBIDDEN, **_NOT_FOUND},
    tags=["portfolio"],
    summary="Totals, allocation and top movers",
)
async def get_dashboard(request: Request, user_id: Owner) -> Response:
    svc = services(request)
    loader = partial(load_dashboard, svc.source, user_id)
    return await _cached_read(
        svc,
        dashboard_key(user_id),
        svc.settings.cache_ttl_dashboard_s,
        loader,
        f"user {user_id} not found",
    )


@api.get(
    reads.TOP_PICKS,
    response_model=TopPicks,
    responses={200: {"headers": _X_CACHE}, **_UNAVAILABLE},
    tags=["picks"],
    summary="Ranked picks, best first",
)
async def get_top_picks(
    request: Request,
    limit: int = Query(
        reads.DEFAULT_PICKS, ge=1, le=MAX_PICKS, description="How many picks (1..50)."
    ),
) -> Response:
    svc = services(request)
    loader = partial(load_top_picks, svc.source, limit)
    return await _cached_read(
        svc, top_picks_key(limit), svc.settings.cache_ttl_top_picks_s, loader, "no picks"
    )


@api.put(
    "/api/portfolio/{user_id}/holdings/{symbol}",
    response_model=HoldingOut,
    responses={
        **_FORBIDDEN,
        404: {"model": Problem, "description": "Unknown user or symbol."},
        **_UNAVAILABLE,
    },
    tags=["portfolio"],
    summary="Create or replace a holding",
)
async def put_holding(
    request: Request, user_id: Owner, symbol: Symbol, body: HoldingIn
) -> HoldingOut:
    svc = services(request)
    keys = user_keys(user_id)

    async def write() -> None:
        # Source of truth first, then the cache; the response waits for both.
        await svc.source.upsert_holding(
            user_id, symbol, body.quantity, body.cost_basis, announce=keys
        )
        await svc.cache.invalidate(keys)

    # Shielded: a client hanging up after the commit must not skip the invalidation.
    await asyncio.shield(write())
    return HoldingOut(
        user_id=user_id, symbol=symbol, quantity=body.quantity, cost_basis=body.cost_basis
    )


@api.delete(
    "/api/portfolio/{user_id}/holdings/{symbol}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **_FORBIDDEN,
        404: {"model": Problem, "description": "Unknown user, or no such holding."},
        **_UNAVAILABLE,
    },
    tags=["portfolio"],
    summary="Delete a holding",
)
async def delete_holding(request: Request, user_id: Owner, symbol: Symbol) -> Response:
    svc = services(request)
    keys = user_keys(user_id)

    async def write() -> bool:
        deleted = await svc.source.delete_holding(user_id, symbol, announce=keys)
        if deleted:
            await svc.cache.invalidate(keys)
        return deleted

    if not await asyncio.shield(write()):
        return JSONResponse(
            {"detail": f"user {user_id} holds no {symbol}"}, status_code=status.HTTP_404_NOT_FOUND
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/health", tags=["ops"], summary="Liveness: 200 while the process runs")
async def health() -> Response:
    # Touches nothing: a Redis or database outage must not get the container killed.
    return Response(content=_HEALTH_BODY, media_type=JSON)


@ops_router.get(
    "/ready",
    tags=["ops"],
    summary="Readiness: source of truth answers (Redis down only degrades)",
    responses={503: {"description": "The source of truth does not answer."}},
)
async def ready(request: Request) -> JSONResponse:
    svc = services(request)
    body: dict[str, Any] = {"status": "ready", "source": svc.source.kind, "database": "ok"}
    code = status.HTTP_200_OK
    try:
        await svc.source.ping()
    except SourceNotConfiguredError as exc:
        body.update(status="unavailable", database="not configured", reason=str(exc))
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    except SourceUnavailableError:
        body.update(status="unavailable", database="down")
        code = status.HTTP_503_SERVICE_UNAVAILABLE
        body["reads"] = _outage_reads(svc)
    body["database_breaker"] = svc.source.breaker.state.value
    body["stale_if_error_s"] = svc.settings.cache_stale_if_error_s
    redis_ok = await svc.cache.ping()
    if svc.listener is None:
        body["invalidation"] = "local"
    else:
        body["invalidation"] = "listening" if svc.listener.synced.is_set() else "reconnecting"
    body["cache"] = "ok" if redis_ok and svc.cache.available else "degraded"
    if body["cache"] == "degraded" and svc.cache.problem:
        # Say why: a refusal (DENIED, NOAUTH, WRONGPASS) is a fix to make, not an outage.
        body["cache_reason"] = svc.cache.problem
    if svc.cache.warning:
        body["cache_warning"] = svc.cache.warning  # works, but a setting to fix
    # Informational: without keys, /api/* answers 503 until the JWKS endpoint answers.
    body["auth_keys"] = "loaded" if svc.authorizer.verifier.keys.loaded else "not loaded"
    return JSONResponse(body, status_code=code)


def _outage_reads(svc: Services) -> str:
    """What cached reads answer while the database is down."""
    cache = svc.cache
    if cache.stale_if_error_s <= 0:
        return "503: stale-if-error is off (CACHE_STALE_IF_ERROR_S=0)"
    if not (cache.coherent or cache.stale_safe):
        return "503: a write may have gone unheard, so no stale copy is served"
    return (
        f"stale copies up to {svc.settings.cache_stale_if_error_s} s past expiry "
        "(X-Cache: STALE), else 503"
    )


@ops_router.get("/cache/stats", tags=["ops"], summary="Hit ratio, memory and evictions")
async def cache_stats(request: Request) -> JSONResponse:
    cache = services(request).cache
    try:
        return JSONResponse(await cache.stats())
    except CacheUnavailableError as exc:
        body = cache.local_stats()
        body["redis"] = {"available": False, "error": str(exc)}
        return JSONResponse(body)


@ops_router.get(
    "/metrics",
    tags=["ops"],
    summary="Prometheus metrics (text exposition format)",
    response_class=PlainTextResponse,
)
async def metrics(request: Request) -> Response:
    registry = services(request).metrics.registry
    return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
