"""Authentication and authorization of /api/* (service/auth/) against a real issuer.

Each test gets its own Issuer: RSA keys generated here, a JWKS HTTP server on 127.0.0.1, tokens
signed with PyJWT. The in-process app fetches the keys over HTTP like it fetches Cognito's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from service.auth.guard import Authorizer
from service.auth.tokens import AuthError, Principal
from testkit.auth import Issuer, SigningKey
from testkit.servers import RedisServer
from testkit.service import RunningApp
from tests.service.conftest import AppFactory, execute_sql


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    started = Issuer.start()
    yield started
    started.stop()


async def app_for(
    make_app: AppFactory, redis: RedisServer | None, issuer: Issuer, **overrides: Any
) -> RunningApp:
    return await make_app(redis, **{**issuer.settings(), **overrides})


async def get(app: RunningApp, path: str, token: str | None) -> Any:
    # Replaces the client's default admin token (None: no Authorization header at all).
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = app.client.build_request("GET", path, headers=headers)
    if token is None:
        del request.headers["authorization"]
    return await app.client.send(request)


def assert_401(response: Any, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer ")
    detail = response.json()["detail"]
    assert reason in detail and "\n" not in detail


# ------------------------------------------------------------------------- 401: who is it


async def test_no_token_is_401_everywhere_under_api(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    for path in ("/api/portfolio/1", "/api/top-picks", "/api/no-such-route", "/api/portfolio/x"):
        response = await get(app, path, None)
        assert_401(response, "missing bearer token")
        assert response.headers["www-authenticate"] == 'Bearer realm="fyntrix"'
    # Before the body is even parsed: an anonymous bad body learns nothing about validation.
    request = app.client.build_request(
        "PUT", "/api/portfolio/1/holdings/AAPL", content=b"{not json"
    )
    del request.headers["authorization"]
    assert_401(await app.client.send(request), "missing bearer token")


async def test_health_ready_stay_anonymous(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    assert (await get(app, "/health", None)).status_code == 200
    assert (await get(app, "/ready", None)).status_code == 200


def _forged_signature(issuer: Issuer) -> str:
    # Signed by a key the issuer never published, under the kid of one it did.
    stranger = SigningKey.generate()
    stranger.kid = issuer.signing.kid
    return issuer.token(key=stranger)


BAD_TOKENS: list[tuple[str, Any, str]] = [
    ("malformed", lambda i: "not.a.jwt", "token is malformed"),
    ("garbage", lambda i: "x" * 50, "token is malformed"),
    ("too long", lambda i: "a" * 9000, "too long"),
    ("expired", lambda i: i.token(exp=int(time.time()) - 120), "token expired"),
    ("nbf future", lambda i: i.token(nbf=int(time.time()) + 600), "not valid yet"),
    ("iat future", lambda i: i.token(iat=int(time.time()) + 600), "not valid yet"),
    ("wrong signature", _forged_signature, "signature does not verify"),
    ("wrong issuer", lambda i: i.token(iss="https://cognito-idp.x/other"), "another issuer"),
    ("wrong client", lambda i: i.token(client_id="someone-else"), "another app client"),
    ("id token", lambda i: i.token(token_use="id"), "not an access token"),
    ("no client_id", lambda i: i.token(drop=("client_id",)), "no client_id claim"),
    ("no exp", lambda i: i.token(drop=("exp",)), "no exp claim"),
    (
        "no kid",
        lambda i: jwt.encode({"sub": "dev-user-1"}, i.signing.private, algorithm="RS256"),
        "no key id",
    ),
    ("unknown kid", lambda i: i.token(key=SigningKey.generate()), "unknown key"),
    (
        "HS256 with the public key as secret",
        lambda i: jwt.encode(
            {"sub": "dev-user-1"}, "secret-" * 8, algorithm="HS256", headers={"kid": i.signing.kid}
        ),
        "must be signed with RS256",
    ),
    (
        "alg none",
        # PyJWT's stubs require a key; "none" ignores it.
        lambda i: jwt.encode({"sub": "dev-user-1"}, None, algorithm="none"),  # type: ignore[arg-type]
        "must be signed with RS256",
    ),
]


@pytest.mark.parametrize(("case", "make", "reason"), BAD_TOKENS, ids=[t[0] for t in BAD_TOKENS])
async def test_every_bad_token_is_401_with_its_reason(
    redis_server: RedisServer,
    make_app: AppFactory,
    issuer: Issuer,
    case: str,
    make: Any,
    reason: str,
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    response = await get(app, "/api/portfolio/1", make(issuer))
    assert_401(response, reason)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_wrong_scheme_is_401(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    token = issuer.user_token(1)
    response = await app.client.get("/api/portfolio/1", headers={"Authorization": f"Basic {token}"})
    assert_401(response, "Authorization must be: Bearer")


async def test_small_clock_skew_is_tolerated(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer, auth_leeway_s=30)
    now = int(time.time())
    skewed = issuer.user_token(1, iat=now + 10, nbf=now + 10, exp=now + 3600)
    assert (await get(app, "/api/portfolio/1", skewed)).status_code == 200
    just_expired = issuer.user_token(1, iat=now - 3600, exp=now - 10)
    assert (await get(app, "/api/portfolio/1", just_expired)).status_code == 200


async def test_a_cached_token_stops_working_when_it_expires(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer, auth_leeway_s=0)
    token = issuer.user_token(1, exp=int(time.time()) + 2)
    assert (await get(app, "/api/portfolio/1", token)).status_code == 200
    assert (await get(app, "/api/portfolio/1", token)).status_code == 200  # cached, HIT
    await asyncio.sleep(2.5)
    assert_401(await get(app, "/api/portfolio/1", token), "token expired")


async def test_a_verified_token_is_found_by_its_header_bytes_and_no_other_token(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    verifier = app.services.authorizer.verifier
    token, other = issuer.user_token(1), issuer.user_token(2)
    assert verifier.cached_header(f"Bearer {token}".encode()) is None  # not verified yet
    assert (await get(app, "/api/portfolio/1", token)).status_code == 200
    principal = verifier.cached_header(f"Bearer {token}".encode())
    assert principal is not None and principal == verifier.cached(token)
    # Another spelling of the same header parses to the same token, hence the same entry.
    assert verifier.cached_header(f"bearer {token} ".encode()) == principal
    # A header ending like the verified one (its key) but carrying another token: no entry.
    forged = f"Bearer {other[:-32]}{token[-32:]}"
    for header in (f"Bearer {other}", f"Basic {token}", "Bearer", f"Bearer {token}x", forged):
        assert verifier.cached_header(header.encode()) is None, header
    # and the verified header still finds its own entry after those misses
    assert verifier.cached_header(f"Bearer {token}".encode()) == principal


# ---------------------------------------------------------------- 403: whose data is it


async def test_a_user_reads_and_writes_only_their_own_data(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    alice = {"Authorization": f"Bearer {issuer.user_token(1)}"}
    for path in ("/api/portfolio/1", "/api/dashboard/1", "/api/top-picks"):
        assert (await app.client.get(path, headers=alice)).status_code == 200
    for path in ("/api/portfolio/2", "/api/dashboard/3", "/api/portfolio/999"):
        response = await app.client.get(path, headers=alice)
        assert response.status_code == 403, path
        user = path.rsplit("/", 1)[1]
        assert response.json() == {"detail": f"this token may not act for user {user}"}
    body = {"quantity": 2, "cost_basis": 100}
    own = await app.client.put("/api/portfolio/1/holdings/KO", json=body, headers=alice)
    other = await app.client.put("/api/portfolio/2/holdings/KO", json=body, headers=alice)
    delete_other = await app.client.delete("/api/portfolio/2/holdings/KO", headers=alice)
    assert (own.status_code, other.status_code, delete_other.status_code) == (200, 403, 403)


async def test_admins_act_for_every_user(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    admin = {"Authorization": f"Bearer {issuer.token(sub='ops-person', admin=True)}"}
    for user in (1, 2, 3):
        assert (await app.client.get(f"/api/portfolio/{user}", headers=admin)).status_code == 200
    assert (await app.client.get("/api/portfolio/999", headers=admin)).status_code == 404
    groups: dict[str, Any] = {"cognito:groups": ["readers"]}  # not a Python name: unpacked
    other_group = issuer.token(sub="ops-person", **groups)
    assert (await get(app, "/api/portfolio/2", other_group)).status_code == 403


async def test_an_unlinked_account_reads_picks_but_no_portfolio(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    stranger = issuer.token(sub="11111111-2222-3333-4444-555555555555")
    assert (await get(app, "/api/top-picks", stranger)).status_code == 200
    assert (await get(app, "/api/portfolio/1", stranger)).status_code == 403


async def test_a_new_link_takes_effect_after_the_identity_cache_ttl(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer, source_kind: str
) -> None:
    app = await make_app(
        redis_server, source_kind, **issuer.settings(), auth_identity_cache_ttl_s=1
    )
    sub = "aaaaaaaa-0000-4000-8000-000000000004"
    token = issuer.token(sub=sub)
    assert (await get(app, "/api/portfolio/4", token)).status_code == 403
    execute_sql(app, "INSERT INTO user_identities (sub, user_id) VALUES (?, ?)", (sub, 4))
    await asyncio.sleep(1.2)
    assert (await get(app, "/api/portfolio/4", token)).status_code == 200


class ManualClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


async def linked_authorizer(
    app: RunningApp, issuer: Issuer, sub: str, user_id: int, ttl_s: float
) -> tuple[Authorizer, Principal, ManualClock]:
    """An Authorizer on the app's real source and verifier, on a clock the test moves."""
    execute_sql(app, "INSERT INTO user_identities (sub, user_id) VALUES (?, ?)", (sub, user_id))
    clock = ManualClock()
    services = app.services
    authorizer = Authorizer(
        services.authorizer.verifier, services.source, identity_ttl_s=ttl_s, clock=clock
    )
    principal = await authorizer.verifier.verify(issuer.token(sub=sub))
    assert await authorizer.may_act_for(principal, user_id)  # read from the database now
    return authorizer, principal, clock


async def test_a_link_in_use_is_reread_before_it_expires(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer, source_kind: str
) -> None:
    app = await make_app(redis_server, source_kind, **issuer.settings())
    sub = "aaaaaaaa-0000-4000-8000-000000000044"
    authorizer, principal, clock = await linked_authorizer(app, issuer, sub, 4, ttl_s=100)
    clock.now_s += 50  # mid-life: answered from memory, nothing re-read
    assert authorizer.decided(principal, 4) is True
    assert authorizer.refresh_task is None
    execute_sql(app, "DELETE FROM user_identities WHERE sub = ?", (sub,))
    clock.now_s += 35  # the last fifth: still answered at once, re-read in the background
    assert authorizer.decided(principal, 4) is True
    assert authorizer.refresh_task is not None
    await authorizer.refresh_task
    # The re-read saw the unlink before the old link's TTL ended, and starts a new life.
    assert authorizer.decided(principal, 4) is False
    clock.now_s += 90  # past the first read's TTL, within the re-read's
    assert authorizer.decided(principal, 4) is False
    clock.now_s += 20
    assert authorizer.decided(principal, 4) is None  # expired: the next check reads again
    await authorizer.close()


async def test_a_failed_reread_keeps_the_link_only_until_its_ttl(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer, caplog: Any
) -> None:
    app = await make_app(redis_server, "sqlite", **issuer.settings())
    sub = "aaaaaaaa-0000-4000-8000-000000000045"
    authorizer, principal, clock = await linked_authorizer(app, issuer, sub, 4, ttl_s=100)
    execute_sql(app, "DROP TABLE user_identities")  # every read of a link fails from now on
    clock.now_s += 90
    assert authorizer.decided(principal, 4) is True
    assert authorizer.refresh_task is not None
    await authorizer.refresh_task
    assert "re-reading 1 identity links failed" in caplog.text
    assert authorizer.decided(principal, 4) is True  # still within the first read's life
    assert authorizer.refresh_task is None  # and not re-read again on every request
    clock.now_s += 10
    assert authorizer.decided(principal, 4) is None
    await authorizer.close()


# --------------------------------------------------------------- one decision function


def outcome(decision: Principal | AuthError | None) -> Any:
    if isinstance(decision, AuthError):
        return (decision.status, decision.reason)
    return decision


async def test_the_synchronous_decision_agrees_with_the_full_one_or_defers_to_it(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    """decide_now and decide_verified (the hit layer's) give decide's answer, or None where
    decide would verify a token (decide_now: or read a link): on the first round nothing is
    known, on the second all of it."""
    app = await app_for(make_app, redis_server, issuer)
    authorizer = app.services.authorizer
    alice, admin = issuer.user_token(1), issuer.token(sub="an-admin", admin=True)
    cases = {
        "none": [],
        "two": [(b"authorization", f"Bearer {alice}".encode())] * 2,
        "basic": [(b"authorization", b"Basic YTpi")],
        "malformed": [(b"authorization", b"Bearer not.a.jwt")],
        "alice": [(b"authorization", f"Bearer {alice}".encode())],
        "admin": [(b"host", b"x"), (b"authorization", f"bearer {admin} ".encode())],
    }
    deferred: dict[int, set[str]] = {0: set(), 1: set()}
    for round_ in (0, 1):
        for case, headers in cases.items():
            for user_id in (None, 1, 2):
                values = [v for name, v in headers if name == b"authorization"]
                to_verify = (
                    len(values) == 1
                    and values[0].lower().startswith(b"bearer ")
                    and authorizer.verifier.cached_header(values[0]) is None
                )
                now = authorizer.decide_now(headers, user_id)
                verified = await authorizer.decide_verified(headers, user_id)
                full = await authorizer.decide(headers, user_id)
                if now is None:
                    deferred[round_].add(case)
                else:
                    assert outcome(now) == outcome(full), (case, user_id)
                # It never verifies a token: None exactly for a token not verified before.
                assert (verified is None) == to_verify, (case, user_id, round_)
                if verified is not None:
                    assert outcome(verified) == outcome(full), (case, user_id)
                assert isinstance(full, Principal) == (
                    case == "admin" or (case == "alice" and user_id in (None, 1))
                ), (case, user_id)
    # Tokens not verified yet first; afterwards only one that never verifies is left to decide.
    assert deferred == {0: {"malformed", "alice", "admin"}, 1: {"malformed"}}


# ------------------------------------------------------- the hit layer enforces the same


async def test_a_cached_portfolio_is_never_served_to_another_user(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    alice, bob = issuer.user_token(1), issuer.user_token(2)
    first = await get(app, "/api/portfolio/1", alice)
    second = await get(app, "/api/portfolio/1", alice)
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert app.services.cache.peek("portfolio:1") is not None  # in L1: the fast path's input
    hits = app.services.cache.hits
    for token in (bob, None, "garbage"):
        response = await get(app, "/api/portfolio/1", token)
        assert response.status_code in (401, 403)
        assert response.content != first.content
        assert "x-cache" not in response.headers
    assert app.services.cache.hits == hits  # no hit was served to them
    # Bob's own portfolio is his; Alice's cached copy does not leak into it either.
    bobs = await get(app, "/api/portfolio/2", bob)
    assert bobs.status_code == 200 and bobs.json()["user_id"] == 2


async def test_a_hit_is_served_only_after_the_token_is_verified(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer)
    await get(app, "/api/dashboard/1", issuer.user_token(1))  # MISS: now cached
    expired = issuer.user_token(1, exp=int(time.time()) - 120)
    assert_401(await get(app, "/api/dashboard/1", expired), "token expired")
    assert_401(await get(app, "/api/dashboard/1", _forged_signature(issuer)), "signature")
    hit = await get(app, "/api/dashboard/1", issuer.user_token(1))
    assert (hit.status_code, hit.headers["x-cache"]) == (200, "HIT")


# ---------------------------------------------------------- keys: rotation and outages


async def test_a_rotated_key_is_fetched_on_its_first_token(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer, auth_jwks_min_refresh_s=1)
    assert (await get(app, "/api/top-picks", issuer.user_token(1))).status_code == 200
    fetches = issuer.fetches
    await asyncio.sleep(1.1)  # past the minimum refresh interval
    issuer.rotate()
    assert (await get(app, "/api/top-picks", issuer.user_token(1))).status_code == 200
    assert issuer.fetches == fetches + 1


async def test_made_up_kids_cannot_flood_the_jwks_endpoint(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer, auth_jwks_min_refresh_s=60)
    assert (await get(app, "/api/top-picks", issuer.user_token(1))).status_code == 200
    fetches = issuer.fetches
    for _ in range(20):
        response = await get(app, "/api/top-picks", issuer.token(key=SigningKey.generate()))
        assert_401(response, "unknown key")
    assert issuer.fetches == fetches  # fetched moments ago: no refetch per forged kid


async def test_unreachable_jwks_is_503_for_uncached_keys_never_a_pass(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    app = await app_for(make_app, redis_server, issuer, auth_jwks_min_refresh_s=1)
    known = issuer.user_token(1)
    assert (await get(app, "/api/portfolio/1", known)).status_code == 200
    issuer.stop()
    await asyncio.sleep(1.1)
    # A key already cached keeps working while the endpoint is down...
    fresh = issuer.user_token(1)
    assert (await get(app, "/api/portfolio/1", fresh)).status_code == 200
    # ...a token under a new key cannot be checked: 503, not 500, not 200.
    issuer.rotate()
    for _ in range(3):
        response = await get(app, "/api/portfolio/1", issuer.user_token(1))
        assert response.status_code == 503
        assert "signing keys are unavailable" in response.json()["detail"]
        assert response.headers["retry-after"] == "1"


async def test_jwks_down_from_the_start_is_503(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    issuer.stop()
    app = await app_for(make_app, redis_server, issuer)
    assert (await get(app, "/ready", None)).json()["auth_keys"] == "not loaded"
    assert (await get(app, "/api/portfolio/1", issuer.user_token(1))).status_code == 503
    assert_401(await get(app, "/api/portfolio/1", None), "missing bearer token")


async def test_a_hung_jwks_endpoint_costs_at_most_the_timeout(
    redis_server: RedisServer, make_app: AppFactory, issuer: Issuer
) -> None:
    issuer.delay_s = 5.0
    app = await app_for(make_app, redis_server, issuer, auth_jwks_timeout_ms=300)
    started = time.monotonic()
    response = await get(app, "/api/portfolio/1", issuer.user_token(1))
    assert response.status_code == 503
    assert time.monotonic() - started < 3.0  # bounded (generous: a loaded machine)
    health = await get(app, "/health", None)
    assert health.status_code == 200
