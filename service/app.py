"""The FastAPI application factory and its lifespan (start and stop of every dependency)."""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from service.api import Services, api, ops_router, router
from service.auth.guard import AuthMiddleware, Authorizer
from service.cache import Cache
from service.emf import EmfPublisher, EmfRecorder
from service.front import Front
from service.invalidation import InvalidationListener
from service.limits import BodyLimitMiddleware
from service.metrics import Metrics
from service.settings import Settings
from service.source import NotFoundError, SourceOpenError, SourceUnavailableError, make_source
from service.source.guard import GuardedSource

log = logging.getLogger(__name__)

_FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Seconds the start waits for the invalidation listener before serving (cache bypassed meanwhile).
_LISTENER_START_WAIT_S = 5.0
# A 422 names what was wrong; it never echoes more than this much of the input back.
_MAX_ERRORS = 16
_MAX_ECHO_CHARS = 64
_MAX_MESSAGE_CHARS = 200
_INT64 = 2**63


def create_app(settings: Settings | None = None) -> ServiceAPI:
    settings = settings if settings is not None else Settings()
    metrics = Metrics()
    emf = EmfRecorder() if settings.metrics_emf_enabled else None
    instance_id = uuid.uuid4().hex[:12]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything started is stopped in reverse order, also when a later step fails.
        async with contextlib.AsyncExitStack() as started:
            # Behind a circuit breaker and deadlines: a database outage costs milliseconds.
            source = GuardedSource.from_settings(
                make_source(settings, instance_id), settings, metrics
            )
            await source.open()
            started.push_async_callback(source.close)
            postgres = settings.database_url is not None
            # With Postgres, other instances write too: trust the cache only once we hear them.
            cache = Cache.from_settings(settings, metrics, coherent=not postgres)

            async def unsure_write(keys: Sequence[str]) -> None:
                await cache.invalidate(keys, reason="unsure")

            source.on_unsure_write = unsure_write
            await cache.start()
            started.push_async_callback(cache.close)
            # A wrong password or a protected Redis is logged now and shown by /ready.
            await cache.check_config()
            listener = None
            if settings.database_url is not None:
                listener = InvalidationListener(
                    settings.database_url.get_secret_value(), cache, instance_id, metrics=metrics
                )
                listener.on_connect = source.probe_soon
                await listener.start(wait_s=_LISTENER_START_WAIT_S)
                started.push_async_callback(listener.stop)
            if emf is not None:
                # Stopped first (started last): its final flush still reads Redis.
                publisher = EmfPublisher(
                    settings, emf, cache, listener, instance_id, source_breaker=source.breaker
                )
                await publisher.start()
                started.push_async_callback(publisher.stop)
            authorizer = Authorizer.from_settings(settings, source)
            started.push_async_callback(authorizer.close)
            # Keys before the first request (bounded by AUTH_JWKS_TIMEOUT_MS; a failure is only
            # logged: requests then get 503 until the JWKS endpoint answers).
            await authorizer.verifier.keys.prefetch()
            app.state.services = Services(
                settings,
                source,
                cache,
                listener,
                metrics,
                instance_id,
                authorizer,
            )
            log.info(
                "fyntrix service ready: instance=%s source=%s redis=%s:%s/%s",
                instance_id,
                source.kind,
                settings.redis_host,
                settings.redis_port,
                settings.redis_db,
            )
            yield
        log.info("fyntrix service stopped: instance=%s", instance_id)

    # With OPS_PORT, the ops routes and the docs are served there only (service/ops_port.py).
    ops_apart = settings.ops_port is not None
    app = ServiceAPI(
        metrics,
        emf,
        title="Fyntrix API",
        version="1.0.0",
        summary="Portfolios, dashboards and ranked picks behind a Redis cache-aside layer.",
        lifespan=lifespan,
        docs_url=None if ops_apart else "/docs",
        redoc_url=None if ops_apart else "/redoc",
        openapi_url=None if ops_apart else "/openapi.json",
    )
    # Outermost last: the body limit, then the auth gate, before routing and validation.
    # Outside all of them (and Starlette's own): the hit layer, Front (see ServiceAPI).
    app.add_middleware(AuthMiddleware, state=app.state)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(api)
    app.include_router(router)
    if ops_apart:
        from service.ops_port import create_ops_app

        app.ops_app = create_ops_app(app)
    else:
        app.include_router(ops_router)

    _add_error_handlers(app, metrics, emf)
    return app


def _add_error_handlers(app: FastAPI, metrics: Metrics, emf: EmfRecorder | None) -> None:
    """Every invalid input a bounded 422 (or 405 with the full Allow), a missing record 404,
    an unreachable source of truth 503."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _FASTAPI_BODY_PARSE_ERROR:
            # A body that is not even UTF-8 gets FastAPI's bare 400; invalid JSON gets 422.
            # Answer both alike: every invalid input is a 422 naming what was wrong.
            error = {"type": "json_invalid", "loc": ["body"], "msg": "body is not UTF-8 JSON"}
            return Response(
                orjson.dumps({"detail": [error]}), status_code=422, media_type="application/json"
            )
        if exc.status_code == 405:
            # Starlette lists only the first matching route's methods in Allow; PUT and DELETE
            # of a holding are separate routes, so compute the full set (RFC 9110, 15.5.6).
            # Probe each method through the public Route.matches() (included routers nest).
            allowed = [
                method
                for method in _HTTP_METHODS
                if any(
                    route.matches({**request.scope, "method": method})[0] is Match.FULL
                    for route in request.app.router.routes
                )
            ]
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        # Bounded: a few errors, each with a short excerpt of its input (FastAPI's default
        # echoes all of it, and fails with a 500 on NaN or a > 64-bit integer).
        errors = [_bounded_error(e) for e in exc.errors()[:_MAX_ERRORS]]
        return Response(
            orjson.dumps({"detail": errors}), status_code=422, media_type="application/json"
        )

    @app.exception_handler(NotFoundError)
    async def not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(SourceUnavailableError)
    async def unavailable(request: Request, exc: SourceUnavailableError) -> JSONResponse:
        route = getattr(request.scope.get("route"), "path", None) or "unmatched"
        retry_after_s = 1
        if isinstance(exc, SourceOpenError):
            retry_after_s = max(1, math.ceil(exc.retry_after_s))
        else:  # the breaker's opening is logged once; each refusal after it is not
            log.warning("source of truth unavailable: %s", exc)
        fast = isinstance(exc, SourceOpenError)
        metrics.source_unavailable.labels(route, "open" if fast else "closed").inc()
        if emf is not None:
            emf.record_unavailable(route)
        return JSONResponse(
            {"detail": "source of truth unavailable"},
            status_code=503,
            headers={"Retry-After": str(retry_after_s)},
        )


class ServiceAPI(FastAPI):
    """FastAPI with the hit layer (service/front.py) as the outermost layer, outside FastAPI's
    own per-request work (telemetry check, Starlette's error middleware): it times every request
    and answers cache hits without entering the framework."""

    def __init__(self, metrics: Metrics, emf: EmfRecorder | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.front = Front(super().__call__, state=self.state, metrics=metrics, emf=emf)
        # The ops port's app when OPS_PORT is set (service/ops_port.py), else None.
        self.ops_app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # In-process callers (tests, httpx.ASGITransport) come in here; the server is handed
        # `front` itself (service/__main__.py), one coroutine frame less per request.
        await self.front(scope, receive, send)


def _excerpt(value: Any) -> Any:
    """A JSON-safe, bounded stand-in for a rejected input value."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else _excerpt(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_ECHO_CHARS else text[:_MAX_ECHO_CHARS] + "..."


def _bounded_error(error: Any) -> dict[str, Any]:
    bounded: dict[str, Any] = {
        "type": str(error.get("type", "")),
        "loc": [_excerpt(part) for part in error.get("loc", ())[:8]],
        "msg": str(error.get("msg", ""))[:_MAX_MESSAGE_CHARS],
    }
    if "input" in error and not isinstance(error["input"], dict | list):
        bounded["input"] = _excerpt(error["input"])
    return bounded
