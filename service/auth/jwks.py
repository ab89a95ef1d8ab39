"""The issuer's signing keys (JWKS): fetched once, cached, refetched when a token names an
unknown `kid` (Cognito rotates keys by adding a new one first).

A fetch never blocks the event loop (a worker thread, bounded in time and size) and is never
repeated more often than the settings allow: a flood of tokens with made-up kids costs one
fetch per AUTH_JWKS_MIN_REFRESH_S, not one per request. A key already cached keeps working
while the JWKS endpoint is down; a token whose key is not cached then gets a 503, never a 500
and never a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt

from service.auth import devkeys

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[dict[str, Any]]]

_MAX_JWKS_BYTES = 1024 * 1024
_MAX_KEYS = 100
# After a failed fetch, requests needing an uncached key get 503 at once for this long (seconds)
# instead of each waiting for the next timeout.
_RETRY_AFTER_FAILURE_S = 1.0


class JwksUnavailableError(Exception):
    """The keys could not be fetched (mapped to 503)."""


class UnknownKeyError(Exception):
    """The issuer's current JWKS has no key with this kid (mapped to 401)."""


def http_fetch(url: str, timeout_s: float) -> Fetch:
    """GET the JWKS document at `url` in a worker thread, within `timeout_s` seconds."""

    def get() -> dict[str, Any]:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 - https, or http only in the local stage (settings)
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            body = response.read(_MAX_JWKS_BYTES + 1)
        if len(body) > _MAX_JWKS_BYTES:
            raise ValueError(f"JWKS larger than {_MAX_JWKS_BYTES} bytes")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("JWKS is not a JSON object")
        return document

    async def fetch() -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.to_thread(get)
        except (OSError, urllib.error.URLError, ValueError, TimeoutError) as exc:
            raise JwksUnavailableError(f"JWKS at {url} unavailable: {exc}") from exc

    return fetch


def dev_key_fetch(path: str) -> Fetch:
    """The local dev issuer's JWKS, from its key file (created if missing)."""

    async def fetch() -> dict[str, Any]:
        try:
            key = await asyncio.to_thread(devkeys.load_or_create_key, Path(path))
        except (OSError, ValueError) as exc:
            raise JwksUnavailableError(f"dev key {path} unusable: {exc}") from exc
        return devkeys.jwks(key)

    return fetch


def parse_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """kid -> key for every RSA signing key of the document; other keys are ignored."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise JwksUnavailableError("JWKS has no `keys` list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries[:_MAX_KEYS]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", "RS256") != "RS256":
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm="RS256")
        except jwt.PyJWTError as exc:
            log.warning("ignoring unusable JWKS key %s: %s", kid, exc)
    return keys


class JwksCache:
    def __init__(self, fetch: Fetch, *, min_refresh_s: float) -> None:
        self._fetch = fetch
        self._min_refresh_s = min_refresh_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # monotonic time of the last successful fetch
        self._failed_at: float | None = None
        self._failure = ""
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._fetched_at is not None

    async def key(self, kid: str) -> jwt.PyJWK:
        found = self._keys.get(kid)
        if found is not None:
            return found
        async with self._lock:  # one fetch at a time; later callers reuse its result
            found = self._keys.get(kid)
            if found is None:
                await self._refresh_for(kid)
                found = self._keys.get(kid)
        if found is None:
            raise UnknownKeyError(kid)
        return found

    async def prefetch(self) -> None:
        """Load the keys before the first request needs them (a failure is only logged)."""
        async with self._lock:
            if self._fetched_at is None:
                with contextlib.suppress(JwksUnavailableError):
                    await self.refresh()

    async def _refresh_for(self, kid: str) -> None:
        now = time.monotonic()
        if self._failed_at is not None and now - self._failed_at < _RETRY_AFTER_FAILURE_S:
            raise JwksUnavailableError(self._failure)
        if self._fetched_at is not None and now - self._fetched_at < self._min_refresh_s:
            return  # fetched moments ago: this kid is not the issuer's
        await self.refresh()

    async def refresh(self) -> None:
        try:
            keys = parse_keys(await self._fetch())
        except JwksUnavailableError as exc:
            self._failed_at, self._failure = time.monotonic(), str(exc)
            log.warning("signing keys unavailable: %s", exc)
            raise
        self._keys = keys
        self._fetched_at, self._failed_at = time.monotonic(), None
        log.info("signing keys loaded: %s", ", ".join(sorted(keys)) or "none")
