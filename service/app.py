"""The FastAPI application factory and its lifespan (start and stop of every dependency)."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.api import Services, mount_bench_routes, router
from service.cache import Cache
from service.fastpath import CachedReadFastPath
from service.invalidation import InvalidationListener
from service.metrics import Metrics, MetricsMiddleware
from service.settings import Settings
from service.source import NotFoundError, SourceUnavailableError, make_source

log = logging.getLogger(__name__)

_FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Seconds the start waits for the invalidation listener before serving (cache bypassed meanwhile).
_LISTENER_START_WAIT_S = 5.0


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    metrics = Metrics()
    instance_id = uuid.uuid4().hex[:12]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything started is stopped in reverse order, also when a later step fails.
        async with contextlib.AsyncExitStack() as started:
            source = make_source(settings, instance_id)
            await source.open()
            started.push_async_callback(source.close)
            postgres = settings.database_url is not None
            # With Postgres, other instances write too: trust the cache only once we hear them.
            cache = Cache.from_settings(settings, metrics, coherent=not postgres)
            await cache.start()
            started.push_async_callback(cache.close)
            listener = None
            if settings.database_url is not None:
                listener = InvalidationListener(
                    settings.database_url.get_secret_value(), cache, instance_id, metrics=metrics
                )
                await listener.start(wait_s=_LISTENER_START_WAIT_S)
                started.push_async_callback(listener.stop)
            app.state.services = Services(
                settings,
                source,
                cache,
                listener,
                metrics,
                instance_id,
                bench_memo={} if settings.bench_endpoints else None,
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

    app = FastAPI(
        title="Fyntrix API",
        version="1.0.0",
        summary="Portfolios, dashboards and ranked picks behind a Redis cache-aside layer.",
        lifespan=lifespan,
    )
    # Outermost last: metrics time everything, including hits answered by the fast path.
    app.add_middleware(CachedReadFastPath, state=app.state)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(router)
    if settings.bench_endpoints:
        mount_bench_routes(app)

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
        # FastAPI's default handler crashes (500) when the rejected input is a NaN or Infinity
        # (Python's json refuses to encode it); orjson writes those as null.
        body = orjson.dumps({"detail": exc.errors()}, default=str, option=orjson.OPT_NON_STR_KEYS)
        return Response(body, status_code=422, media_type="application/json")

    @app.exception_handler(NotFoundError)
    async def not_found(_request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(SourceUnavailableError)
    async def unavailable(_request: Request, exc: SourceUnavailableError) -> JSONResponse:
        log.warning("source of truth unavailable: %s", exc)
        return JSONResponse({"detail": "source of truth unavailable"}, status_code=503)

    return app
