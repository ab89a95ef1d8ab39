"""Who may call /api/*, decided in one place: Authorizer.decide, which the auth gate and the
routes' dependencies call, and its parts the hit layer calls: decide_now (from memory only) and
decide_verified (may read a link, never verifies a token).

A decision is the caller's Principal (allowed) or an AuthError saying why not: 401 (no token,
several Authorization headers, a bad token), 403 (not this user's data), 503 (keys unavailable).
decide_now answers from the verified-token cache and the identity links read within their TTL,
and returns None where decide would have to verify a token or read a link.

The gate (AuthMiddleware) authenticates every /api/* request before routing, validation and body
parsing, so an anonymous request costs a header lookup and learns nothing (not even whether a
path or body would be valid). Whose data a caller may touch is decided by the route's dependency
(api.py) once the user id is parsed, and by the hit layer for the canonical targets it parses.

Authorization: a Principal acts for the user its `sub` is linked to in the source of truth
(table user_identities; `python -m service.ops link-user`); members of the admin group act for
every user. The link is read from the database and reused for AUTH_IDENTITY_CACHE_TTL_S; a link
still in use in the last fifth of that time is re-read in the background, so an active caller
never waits for the database (and never is a link used longer than the TTL after its read,
but for this: while the database cannot be asked, a link expired less than
CACHE_STALE_IF_ERROR_S ago is used as last read, so the stale answers of a database outage
reach their callers; a link removed meanwhile could not have been removed, the database being
down, so the delay is the same bound the data's staleness has).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import orjson

from service.auth.jwks import JwksCache, dev_key_fetch, http_fetch
from service.auth.tokens import (
    AuthError,
    Principal,
    TokenVerifier,
    parse_bearer,
    unauthorized,
)
from service.source.base import MAX_SUBS_PER_READ, SourceUnavailableError

if TYPE_CHECKING:
    from starlette.datastructures import State
    from starlette.types import ASGIApp, Receive, Scope, Send

    from service.settings import Settings
    from service.source import Source

log = logging.getLogger(__name__)

# A request's headers as the server hands them over (ASGI scope["headers"]).
Headers = Iterable[tuple[bytes, bytes]]
# An allowed caller's Principal, or why the request is refused (401, 403 or 503).
Decision = Principal | AuthError

PROTECTED_PREFIX = "/api/"
_MAX_CACHED_IDENTITIES = 100_000
# A link used in the last fifth of its life is re-read ahead of its expiry. Without this, links
# read together (a deploy, a burst of sign-ins) expire together, and every one of those callers
# waits for the database at the same moment: the p99 of cached reads jumped 20-fold every TTL.
_REFRESH_AHEAD_SHARE = 0.2


class Authorizer:
    """Verifies tokens and answers "may this Principal act for user N?"."""

    def __init__(
        self,
        verifier: TokenVerifier,
        source: Source,
        *,
        identity_ttl_s: float,
        stale_if_error_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.verifier = verifier
        self._source = source
        self._ttl_s = identity_ttl_s
        self._stale_s = stale_if_error_s
        self._refresh_ahead_s = identity_ttl_s * _REFRESH_AHEAD_SHARE
        self._clock = clock
        self._identities: dict[str, tuple[int | None, float]] = {}  # sub -> (user, until)
        self._due: deque[str] = deque()  # subs to re-read in the background, oldest first
        self._refreshing: set[str] = set()
        self.refresh_task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, source: Source) -> Authorizer:
        if settings.auth_jwks_url is not None:
            fetch = http_fetch(settings.auth_jwks_url, settings.auth_jwks_timeout_ms / 1000)
        else:  # the local dev issuer (settings allow no other case without a URL)
            fetch = dev_key_fetch(settings.auth_dev_key_path)
        keys = JwksCache(fetch, min_refresh_s=settings.auth_jwks_min_refresh_s)
        verifier = TokenVerifier(
            keys,
            issuer=settings.auth_issuer,
            client_ids=settings.auth_client_ids,
            admin_group=settings.auth_admin_group,
            leeway_s=settings.auth_leeway_s,
        )
        return cls(
            verifier,
            source,
            identity_ttl_s=settings.auth_identity_cache_ttl_s,
            stale_if_error_s=settings.cache_stale_if_error_s,
        )

    async def user_of(self, principal: Principal) -> int | None:
        """The user id linked to the Principal's sub (None: not linked)."""
        found = self._identities.get(principal.sub)
        now_s = self._clock()
        if found is not None and found[1] > now_s:
            return found[0]
        try:
            return await self._read_link(principal.sub)
        except SourceUnavailableError:
            if found is not None and now_s < found[1] + self._stale_s:
                return found[0]  # as last read: the database cannot be asked (stale if error)
            raise

    async def _read_link(self, sub: str) -> int | None:
        read_at = self._clock()  # the link's life counts from before the read
        user_id = await self._source.user_for_sub(sub)
        self._remember(sub, user_id, read_at)
        return user_id

    def _remember(self, sub: str, user_id: int | None, read_at: float) -> None:
        if len(self._identities) >= _MAX_CACHED_IDENTITIES and sub not in self._identities:
            self._identities.clear()
        self._identities[sub] = (user_id, read_at + self._ttl_s)
        self._refreshing.discard(sub)  # read afresh: it may come due again

    def decide_now(self, headers: Headers, user_id: int | None) -> Decision | None:
        """decide() from memory alone: None where decide() would verify a token or read a
        link. Synchronous: the hit layer (service/front.py) answers with it."""
        principal = self._known_caller(headers)
        if not isinstance(principal, Principal):
            return principal  # refused, or a token to verify
        if user_id is None:
            return principal
        may = self.decided(principal, user_id)
        if may is None:
            return None
        return principal if may else forbidden(user_id)

    async def decide(self, headers: Headers, user_id: int | None) -> Decision:
        """May the caller of a request with these headers read `user_id`'s data (None:
        authentication only)? Its Principal if so, else why not (AuthError 401, 403 or 503).
        The same steps as decide_now, awaiting where decide_now gives up."""
        header = authorization(headers)
        if isinstance(header, AuthError):
            return header
        principal = self.verifier.cached_header(header)
        if principal is None:
            try:
                principal = await self.verifier.verify(parse_bearer(header))
            except AuthError as exc:
                return exc
        return await self._authorize(principal, user_id)

    async def decide_verified(self, headers: Headers, user_id: int | None) -> Decision | None:
        """decide() for a token verified before (reading its link if need be); None for one
        not verified yet, which the gate verifies, once: a forged token must not cost two RSA
        verifications. The hit layer's slow part."""
        principal = self._known_caller(headers)
        if not isinstance(principal, Principal):
            return principal  # refused, or a token to verify
        return await self._authorize(principal, user_id)

    def _known_caller(self, headers: Headers) -> Decision | None:
        """The caller's Principal from the verified-token cache, the 401 of a request without
        one bearer token, or None for a token not verified yet."""
        header = authorization(headers)
        if isinstance(header, AuthError):
            return header
        principal = self.verifier.cached_header(header)
        if principal is None:
            try:
                parse_bearer(header)  # not even a bearer token: 401 without verifying
            except AuthError as exc:
                return exc
        return principal

    async def _authorize(self, principal: Principal, user_id: int | None) -> Decision:
        if user_id is None or await self.may_act_for(principal, user_id):
            return principal
        return forbidden(user_id)

    async def may_act_for(self, principal: Principal, user_id: int) -> bool:
        """Whether the Principal acts for `user_id` (reads its link when not cached)."""
        decided = self.decided(principal, user_id)  # the common case, without a coroutine
        if decided is not None:
            return decided
        return await self.user_of(principal) == user_id

    def decided(self, principal: Principal, user_id: int) -> bool | None:
        """may_act_for() when it needs no database read (admin, or the link is cached), else
        None."""
        if principal.admin:
            return True
        found = self._identities.get(principal.sub)
        if found is None:
            return None
        left_s = found[1] - self._clock()
        if left_s <= 0:
            return None
        if left_s < self._refresh_ahead_s and principal.sub not in self._refreshing:
            self._refreshing.add(principal.sub)
            self._due.append(principal.sub)
            if self.refresh_task is None:
                self.refresh_task = asyncio.create_task(self._refresh_due())
        return found[0] == user_id

    async def _refresh_due(self) -> None:
        """Re-read the links that came due, many per query: one pool connection, no burst."""
        failures, first_error = 0, None
        try:
            while self._due:
                subs = [self._due.popleft() for _ in range(min(len(self._due), MAX_SUBS_PER_READ))]
                read_at = self._clock()  # a link's life counts from before its read
                try:
                    links = await self._source.users_for_subs(subs)
                except Exception as exc:
                    # The links then expire as they would have; they stay marked, so a database
                    # that is down is not asked again for them by every request until then.
                    failures += len(subs)
                    first_error = first_error or exc
                    continue
                for sub, user_id in links.items():
                    self._remember(sub, user_id, read_at)
        finally:
            self.refresh_task = None
            if failures:  # one line per batch, not one per caller: the database is down for all
                log.warning("re-reading %d identity links failed: %r", failures, first_error)

    async def close(self) -> None:
        """Stop re-reading links (before the source closes)."""
        task, self.refresh_task = self.refresh_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._due.clear()
        self._refreshing.clear()


def authorization(headers: Headers) -> bytes | AuthError:
    """The value of the request's one Authorization header, or the 401 for none or several."""
    value: bytes | None = None
    for name, raw in headers:
        if name == b"authorization":
            if value is not None:
                return unauthorized("more than one Authorization header")
            value = raw
    if value is None:
        return unauthorized("missing bearer token (Authorization: Bearer <access token>)")
    return value


def forbidden(user_id: int) -> AuthError:
    return AuthError(403, f"this token may not act for user {user_id}")


class AuthMiddleware:
    """The gate: every /api/* request is authenticated (decide, no user) before routing."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state  # the app's state: `services` appears there once the lifespan ran

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        services = getattr(self.state, "services", None)
        if services is None:
            await send_auth_error(send, AuthError(503, "service is starting"))
            return
        authorizer: Authorizer = services.authorizer
        decision = await authorizer.decide(scope["headers"], None)
        if isinstance(decision, AuthError):
            await send_auth_error(send, decision)
            return
        await self.app(scope, receive, send)


def challenge(exc: AuthError) -> bytes:
    """The WWW-Authenticate value of a 401."""
    # RFC 6750: error="invalid_token" when a token was presented; reasons are our own ASCII text.
    if exc.reason.startswith("missing bearer token"):
        return b'Bearer realm="fyntrix"'
    description = exc.reason.replace('"', "'")
    challenge = f'Bearer realm="fyntrix", error="invalid_token", error_description="{description}"'
    return challenge.encode()


async def send_auth_error(send: Send, exc: AuthError) -> None:
    body = orjson.dumps({"detail": exc.reason})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", challenge(exc)))
    else:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
