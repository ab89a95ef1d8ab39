"""Verify a Cognito access token (PyJWT, RS256 only) into the Principal it proves.

Checked: signature against the issuer's key named by `kid`, `iss`, `token_use` = access,
`client_id` among the allowed app clients, `exp`/`nbf`/`iat` with a small leeway. Every
failure is an AuthError with a one-line reason; nothing here ever passes a token it could not
verify.

A verified token is remembered by its exact string until its `exp`: the cached read then pays
a dict lookup for authentication, not an RSA verification. The front layer's hit path looks it
up by the raw Authorization header instead (cached_header): the same entry, found without
decoding and splitting the header on every request (keyed by its last bytes: see there). The
entry is the token's own identity (sub, groups), never a decision about a resource, so it
cannot leak across users.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from service.auth.jwks import JwksCache, JwksUnavailableError, UnknownKeyError

# Cognito access tokens are ~1 KiB; anything far larger is not one (and must not fill memory).
MAX_TOKEN_CHARS = 8192
_MAX_CACHED_TOKENS = 10_000
# How many trailing bytes of an Authorization header key its cached entry: 32 base64url
# characters are 24 bytes of the RSA signature, distinct for every token in practice.
_TAIL_BYTES = 32
_REQUIRED = ["exp", "iat", "iss", "sub", "token_use", "client_id"]
_REASONS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not valid yet (nbf or iat in the future)"),
    (jwt.InvalidIssuedAtError, "token has an invalid iat claim"),
    (jwt.InvalidIssuerError, "token was issued by another issuer"),
    (jwt.InvalidSignatureError, "token signature does not verify"),
    (jwt.InvalidAlgorithmError, "token must be signed with RS256"),
    (jwt.DecodeError, "token is malformed"),
]


class AuthError(Exception):
    """Why a request is not authenticated: 401 (bad token) or 503 (keys unavailable)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def unauthorized(reason: str) -> AuthError:
    return AuthError(401, reason)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    sub: str
    admin: bool
    client_id: str
    expires_at: float  # the token's exp, Unix seconds


class TokenVerifier:
    def __init__(
        self,
        keys: JwksCache,
        *,
        issuer: str,
        client_ids: tuple[str, ...],
        admin_group: str,
        leeway_s: float,
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._client_ids = frozenset(client_ids)
        self._admin_group = admin_group
        self._leeway_s = leeway_s
        self._verified: dict[str, Principal] = {}
        # The last _TAIL_BYTES of an Authorization header value -> (that value, the Principal
        # of the verified token it carries). A value parses to exactly one token, and an entry
        # answers only the value it holds, so it never answers for another token.
        self._by_header: dict[bytes, tuple[bytes, Principal]] = {}

    def cached(self, token: str) -> Principal | None:
        """The Principal of a token verified before and not expired since, else None."""
        principal = self._verified.get(token)
        if principal is not None and principal.expires_at <= time.time():
            del self._verified[token]
            return None
        return principal

    def cached_header(self, header: bytes) -> Principal | None:
        """cached() for a raw `Authorization` header value (parse_bearer's input), else None."""
        # Each request's header is a new bytes object, so its hash is computed every time: a
        # key of a few dozen bytes, not the whole value. Two values sharing a tail (another
        # spelling of the same token, or a forgery) miss and take parse_bearer and cached().
        tail = header[-_TAIL_BYTES:]
        entry = self._by_header.get(tail)
        if entry is None or entry[0] != header:
            try:
                principal = self.cached(parse_bearer(header))
            except AuthError:
                return None
            if principal is not None:
                if len(self._by_header) >= _MAX_CACHED_TOKENS:
                    self._by_header.clear()  # rebuilt from _verified by the next requests
                self._by_header[tail] = (header, principal)
            return principal
        principal = entry[1]
        if principal.expires_at <= time.time():
            del self._by_header[tail]
            return None
        return principal

    async def verify(self, token: str) -> Principal:
        principal = self.cached(token)
        if principal is None:
            principal = self._principal(await self._claims(token))
            self._remember(token, principal)
        return principal

    async def _claims(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_CHARS:
            raise unauthorized("token is malformed (too long)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise unauthorized("token is malformed") from None
        if header.get("alg") != "RS256":
            raise unauthorized("token must be signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise unauthorized("token has no key id (kid)")
        try:
            key = await self.keys.key(kid)
        except UnknownKeyError:
            raise unauthorized("token was signed by an unknown key") from None
        except JwksUnavailableError:
            raise AuthError(503, "signing keys are unavailable; retry shortly") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=self._leeway_s,
                # Cognito access tokens carry client_id, not aud (checked below).
                options={"require": _REQUIRED, "verify_aud": False},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise unauthorized(f"token has no {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            raise unauthorized(_reason(exc)) from None
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        if claims.get("token_use") != "access":
            raise unauthorized("token is not an access token (token_use)")
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or client_id not in self._client_ids:
            raise unauthorized("token was issued to another app client")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 256:
            raise unauthorized("token has an invalid sub claim")
        groups = claims.get("cognito:groups")
        admin = isinstance(groups, list) and self._admin_group in groups
        return Principal(sub=sub, admin=admin, client_id=client_id, expires_at=float(claims["exp"]))

    def _remember(self, token: str, principal: Principal) -> None:
        if len(self._verified) >= _MAX_CACHED_TOKENS:
            now = time.time()
            self._verified = {t: p for t, p in self._verified.items() if p.expires_at > now}
            while len(self._verified) >= _MAX_CACHED_TOKENS:  # all live: drop the oldest
                del self._verified[next(iter(self._verified))]
        self._verified[token] = principal


def parse_bearer(value: bytes) -> str:
    """The token of one Authorization header's value, or AuthError 401."""
    scheme, _, token = value.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Authorization must be: Bearer <access token>")
    return token.strip()


def _reason(exc: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "token is invalid"
