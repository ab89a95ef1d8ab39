"""The hit layer (service/front.py): the framework's answers, byte for byte, or no answer."""

from __future__ import annotations

import tracemalloc
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client import generate_latest

from bench.routes import mount
from service import front as front_module
from service import reads
from service.emf import EmfRecorder
from service.front import Front, SharedStarts, hit_messages
from service.metrics import Metrics
from testkit.auth import default_issuer
from testkit.servers import RedisServer
from testkit.service import RunningApp
from tests.service.conftest import AppFactory

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


def comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k != "x-cache"}
    return response.status_code, response.content, headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/portfolio/1",
        "/api/dashboard/4",
        "/api/top-picks",
        "/api/top-picks?limit=1",
        "/api/top-picks?limit=50",
    ],
)
async def test_a_hit_is_answered_exactly_like_the_framework_answers(
    redis_server: RedisServer, make_app: AppFactory, path: str
) -> None:
    app = await make_app(redis_server)
    via_framework = await app.client.get(path)  # MISS: routed, validated, loaded
    via_fast_path = await app.client.get(path)  # HIT from L1
    assert via_framework.headers["x-cache"] == "MISS"
    assert via_fast_path.headers["x-cache"] == "HIT"
    assert comparable(via_fast_path) == comparable(via_framework)
    assert app.services.cache.hits == 1


@pytest.mark.parametrize(
    ("cached", "asked", "status"),
    [
        ("/api/portfolio/12", "/api/portfolio/012", 404),  # leading zero: the framework parses
        ("/api/top-picks?limit=5", "/api/top-picks?limit=05", 200),
        ("/api/top-picks?limit=6", "/api/top-picks?limit=5&limit=6", 200),  # last one wins
        ("/api/top-picks", "/api/top-picks?limit=51", 422),
        ("/api/portfolio/1", "/api/portfolio/1/", 307),  # the framework's slash redirect
    ],
)
async def test_anything_not_canonical_falls_through_to_the_framework(
    redis_server: RedisServer, make_app: AppFactory, cached: str, asked: str, status: int
) -> None:
    app = await make_app(redis_server)
    canonical = await app.client.get(cached)
    response = await app.client.get(asked, follow_redirects=False)
    assert response.status_code == status
    if status == 200:  # what the framework makes of it: the same resource as the canonical form
        assert response.content == canonical.content


async def test_head_and_other_methods_are_not_intercepted(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    await app.client.get("/api/portfolio/1")
    assert (await app.client.head("/api/portfolio/1")).status_code in (200, 405)
    assert (await app.client.post("/api/portfolio/1")).status_code == 405


async def test_no_fast_path_hit_while_the_cache_is_unavailable(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    await app.client.get("/api/portfolio/1")
    assert (await app.client.get("/api/portfolio/1")).headers["x-cache"] == "HIT"
    app.services.cache.set_coherent(False)
    assert (await app.client.get("/api/portfolio/1")).headers["x-cache"] == "BYPASS"


async def test_fast_path_hits_are_timed_under_their_route(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    for _ in range(3):
        await app.client.get("/api/dashboard/2")
    text = (await app.client.get("/metrics")).text
    assert (
        'fyntrix_http_request_duration_seconds_count{method="GET",'
        'route="/api/dashboard/{user_id}",status="200"} 3.0'
    ) in text
    assert 'fyntrix_cache_hits_total{namespace="dashboard"} 2.0' in text


async def test_bench_baseline_is_served_from_its_memo(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    # The benchmark's routes live in bench/routes.py, mounted behind the hit layer.
    app = await make_app(redis_server)
    routes = mount(app.app)  # type: ignore[arg-type]
    first = await app.client.get("/bench/baseline/3")
    second = await app.client.get("/bench/baseline/3")
    portfolio = await app.client.get("/api/portfolio/3")
    assert first.content == second.content == portfolio.content
    assert "x-cache" not in second.headers
    assert set(routes.memo) == {3}
    assert (await app.client.get("/bench/baseline/999")).status_code == 404
    cached = await app.client.get("/bench/cached/3", headers={"authorization": "none"})
    assert (cached.headers["x-cache"], cached.content) == ("HIT", portfolio.content)
    text = (await app.client.get("/metrics")).text  # timed by the hit layer, under its route
    assert 'route="/bench/baseline/{user_id}",status="200"} 2.0' in text


# ------------------------------------------- every route, every cache state: the same answer

EVERY_CACHED_READ = [
    "/api/portfolio/1",
    "/api/dashboard/4",
    "/api/top-picks",
    "/api/top-picks?limit=20",
]


@pytest.mark.parametrize("path", EVERY_CACHED_READ)
async def test_every_layer_and_cache_state_gives_the_same_answer(
    redis_server: RedisServer, make_app: AppFactory, path: str
) -> None:
    app = await make_app(redis_server)
    issuer = default_issuer()
    answers = {"miss (framework)": await app.client.get(path)}
    answers["L1 hit, known token (outermost layer)"] = await app.client.get(path)
    # A token never seen: the gate verifies it, then the route answers from L1.
    fresh = issuer.bearer(issuer.token(sub="another-admin", admin=True))
    answers["L1 hit, first-seen token (framework)"] = await app.client.get(path, headers=fresh)
    # No L1 at all: Redis (filled by the first app) answers: through the framework for a
    # token this app has not verified yet, then through the hit layer.
    redis_only = await make_app(redis_server, cache_l1_max_entries=0)
    answers["Redis hit, first-seen token (framework)"] = await redis_only.client.get(path)
    answers["Redis hit, known token (hit layer)"] = await redis_only.client.get(path)
    app.services.cache.set_coherent(False)
    answers["bypass (framework)"] = await app.client.get(path)

    expected = ["MISS", "HIT", "HIT", "HIT", "HIT", "BYPASS"]
    assert [r.headers["x-cache"] for r in answers.values()] == expected
    first = comparable(answers["miss (framework)"])
    assert first[0] == 200
    for state, response in answers.items():
        assert comparable(response) == first, state


class Recorder:
    """The stack behind the outermost layer, recording whether a request reached it."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def via_front(
    app: RunningApp, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[Recorder, list[Message]]:
    return await via(
        Front(Recorder(), state=app.app.state, metrics=app.services.metrics), path, headers
    )


async def via(
    front: Front, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[Recorder, list[Message]]:
    stack = front.app
    assert isinstance(stack, Recorder)
    stack.reached.clear()
    sent: list[Message] = []
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": "GET",
        "path": route,
        "query_string": query.encode(),
        "headers": headers,
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await front(scope, receive, send)
    return stack, sent


def auth_header(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


async def test_the_outermost_layer_answers_a_known_callers_hit_by_itself(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    token = default_issuer().user_token(1)
    for _ in range(2):  # the first verifies the token and reads the user link
        framework = await app.client.get("/api/portfolio/1", headers=default_issuer().bearer(token))
    stack, sent = await via_front(app, "/api/portfolio/1", [auth_header(token)])
    assert stack.reached == []
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200 and sent[1]["body"] == framework.content
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    assert headers == {k: v for k, v in framework.headers.items()}


async def test_a_known_token_whose_link_is_not_read_yet_is_answered_by_the_layer(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    # The layer reads the link itself (decide_verified); it never verifies a token.
    app = await make_app(redis_server)
    token = default_issuer().user_token(3)
    await app.client.get("/api/portfolio/3")  # into L1 (the client's admin token)
    bearer = default_issuer().bearer(token)
    assert (await app.client.get("/api/top-picks", headers=bearer)).status_code == 200
    authorizer = app.services.authorizer
    principal = authorizer.verifier.cached(token)
    assert principal is not None and authorizer.decided(principal, 3) is None  # link unread
    stack, sent = await via_front(app, "/api/portfolio/3", [auth_header(token)])
    assert stack.reached == [] and sent[0]["status"] == 200
    stack, sent = await via_front(app, "/api/portfolio/4", [auth_header(token)])
    assert stack.reached == ["/api/portfolio/4"]  # linked to user 3 only: the framework's 403


async def test_a_changed_body_is_answered_with_its_own_messages(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    # The layer keeps the messages that last answered a target; a new body must replace them.
    app = await make_app(redis_server)
    token = default_issuer().user_token(1)
    bearer = default_issuer().bearer(token)
    front = Front(Recorder(), state=app.app.state, metrics=app.services.metrics)
    bodies = []
    for quantity in (3, 1234567):
        body = {"quantity": quantity, "cost_basis": 10}
        put = await app.client.put("/api/portfolio/1/holdings/AAPL", json=body, headers=bearer)
        assert put.status_code == 200
        for _ in range(2):  # MISS refills L1, then the layer can answer
            framework = await app.client.get("/api/portfolio/1", headers=bearer)
        stack, sent = await via(front, "/api/portfolio/1", [auth_header(token)])
        assert stack.reached == []
        assert sent[1]["body"] == framework.content
        length = dict(sent[0]["headers"])[b"content-length"]
        assert int(length) == len(framework.content)
        bodies.append(sent[1]["body"])
    assert bodies[0] != bodies[1] and len(bodies[0]) != len(bodies[1])


async def test_the_outermost_layer_leaves_every_other_decision_to_the_stack(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    issuer = default_issuer()
    alice, bob = issuer.user_token(1), issuer.user_token(2)
    for user_id, token in ((1, alice), (2, bob)):  # verified, linked, and in L1
        for _ in range(2):
            await app.client.get(f"/api/portfolio/{user_id}", headers=issuer.bearer(token))
    cases: dict[str, tuple[str, list[tuple[bytes, bytes]]]] = {
        "no token": ("/api/portfolio/1", []),
        "two Authorization headers": ("/api/portfolio/1", [auth_header(alice), auth_header(alice)]),
        "not a bearer token": ("/api/portfolio/1", [(b"authorization", b"Basic YTpi")]),
        "a token never verified": ("/api/portfolio/1", [auth_header(issuer.user_token(1))]),
        "another user's data": ("/api/portfolio/1", [auth_header(bob)]),
        "a request body": ("/api/portfolio/1", [auth_header(alice), (b"content-length", b"2")]),
        "a chunked body": (
            "/api/portfolio/1",
            [auth_header(alice), (b"transfer-encoding", b"chunked")],
        ),
        "not in L1": ("/api/dashboard/1", [auth_header(alice)]),
        "not canonical": ("/api/top-picks?limit=05", [auth_header(alice)]),
    }
    for case, (path, headers) in cases.items():
        stack, sent = await via_front(app, path, headers)
        assert stack.reached == [path.partition("?")[0]], case
        assert sent[0]["status"] == 299, case
    # Through the real stack, those that are errors get the stack's answers.
    two = app.client.build_request("GET", "/api/portfolio/1")
    two.headers = httpx.Headers([("authorization", f"Bearer {alice}")] * 2)
    assert (await app.client.send(two)).status_code == 401
    assert (await app.client.get("/api/portfolio/1", headers=issuer.bearer(bob))).status_code == 403
    big = b"x" * (app.services.settings.max_body_bytes + 1)
    oversized = app.client.build_request(
        "GET", "/api/portfolio/1", headers=issuer.bearer(alice), content=big
    )
    assert (await app.client.send(oversized)).status_code == 413


class Reached:
    """The framework behind the hit layer, counting the requests that reach it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.count = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.count += scope["type"] == "http"
        await self.app(scope, receive, send)


def exact(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, sorted(response.headers.multi_items()), response.content


async def test_the_hit_layer_and_the_framework_give_the_same_bytes_for_every_case(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    """Each request, sent through the hit layer and to the framework behind it alone, gets the
    same status, headers and bytes: hits, misses, and every 401, 403, 413 and 422. Only the
    hit is answered by the layer itself."""
    app = await make_app(redis_server)
    issuer = default_issuer()
    alice, bob = issuer.user_token(1), issuer.user_token(2)
    for path, token in (("/api/portfolio/1", alice), ("/api/portfolio/2", bob)) * 2:
        await app.client.get(path, headers=issuer.bearer(token))  # verified, linked, in L1
    framework = Reached(app.app.front.app)  # type: ignore[attr-defined]
    app.app.front.app = framework  # type: ignore[attr-defined]
    big = b"x" * (app.services.settings.max_body_bytes + 1)
    cases: dict[str, tuple[str, list[tuple[str, str]], bytes | None, int]] = {
        "hit": ("/api/portfolio/1", [("authorization", f"Bearer {alice}")], None, 200),
        "miss": ("/api/dashboard/1", [("authorization", f"Bearer {alice}")], None, 200),
        "401 no token": ("/api/portfolio/1", [], None, 401),
        "401 bad token": ("/api/portfolio/1", [("authorization", "Bearer not.a.jwt")], None, 401),
        "401 two tokens": (
            "/api/portfolio/1",
            [("authorization", f"Bearer {alice}")] * 2,
            None,
            401,
        ),
        "403 another user's data": (
            "/api/portfolio/1",
            [("authorization", f"Bearer {bob}")],
            None,
            403,
        ),
        "413 a body too large": (
            "/api/portfolio/1",
            [("authorization", f"Bearer {alice}")],
            big,
            413,
        ),
        "422 a limit out of range": (
            "/api/top-picks?limit=51",
            [("authorization", f"Bearer {alice}")],
            None,
            422,
        ),
    }
    entries: dict[str, ASGIApp] = {"hit layer": app.app, "framework alone": framework.app}
    for case, (path, headers, body, status) in cases.items():
        answers = {}
        for entry, asgi in entries.items():
            await app.services.cache.invalidate(["dashboard:1"])  # a miss on each side
            reached = framework.count
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=asgi), base_url="http://service.test"
            ) as client:
                request = client.build_request("GET", path, content=body)
                request.headers = httpx.Headers([*request.headers.multi_items(), *headers])
                answers[entry] = await client.send(request)
            answered_by_the_layer = entry == "hit layer" and framework.count == reached
            assert answered_by_the_layer == (case == "hit" and entry == "hit layer"), case
        assert answers["hit layer"].status_code == status, case
        assert exact(answers["hit layer"]) == exact(answers["framework alone"]), case
    assert app.services.cache.peek("portfolio:1") is not None


async def test_a_redis_hit_is_answered_by_the_layer_like_the_framework_answers_it(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server, cache_l1_max_entries=0)  # every hit comes from Redis
    await app.client.get("/api/dashboard/2")  # MISS: verified, and now in Redis
    framework = Reached(app.app.front.app)  # type: ignore[attr-defined]
    app.app.front.app = framework  # type: ignore[attr-defined]
    layer = await app.client.get("/api/dashboard/2")
    assert framework.count == 0 and layer.headers["x-cache"] == "HIT"
    alone = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=framework.app),
        base_url="http://service.test",
        headers=app.client.headers,
    )
    async with alone:
        assert exact(layer) == exact(await alone.get("/api/dashboard/2"))
    assert app.services.cache.hits == 2


async def test_every_hit_held_for_a_batch_reaches_the_metrics_and_emf_once(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    """The layer keeps hit latencies in their plans and adds them in batches (settle, after
    SETTLE_AFTER_HITS hits): a scrape and an EMF interval's end each see every hit answered
    before them, across in-band batches and with a part batch held, and none twice."""
    app = await make_app(redis_server)
    await app.client.get("/api/top-picks")  # fills the cache and verifies the client's token
    metrics, emf = Metrics(), EmfRecorder()
    front = Front(Recorder(), state=app.app.state, metrics=metrics, emf=emf)
    authorization = [(b"authorization", app.client.headers["authorization"].encode())]

    async def hits(times: int) -> None:
        for _ in range(times):
            stack, sent = await via(front, "/api/top-picks", authorization)
            assert stack.reached == [] and sent[0]["status"] == 200

    def scraped(total: int) -> bool:
        text = generate_latest(metrics.registry).decode()
        labels = 'method="GET",route="/api/top-picks",status="200"'
        return (
            f'fyntrix_http_requests_total{{cache="HIT",{labels}}} {total:.1f}' in text
            and f"fyntrix_http_request_duration_seconds_count{{{labels}}} {total:.1f}" in text
        )

    first = 2 * front_module.SETTLE_AFTER_HITS + 5  # two batches settled in band, 5 held
    await hits(first)
    assert scraped(first)
    requests, cached, _ = emf.take()
    assert requests == {"/api/top-picks": [first, 0, 0, 0, 0]}
    assert cached.count == first
    await hits(3)
    requests, cached, _ = emf.take()  # the interval's end settles, without a scrape
    assert requests == {"/api/top-picks": [3, 0, 0, 0, 0]} and cached.count == 3
    assert scraped(first + 3)


async def test_nothing_is_remembered_for_a_request_before_its_caller_is_allowed(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    issuer = default_issuer()
    alice, bob = issuer.user_token(1), issuer.user_token(2)
    for path, token in (("/api/portfolio/1", alice), ("/api/portfolio/2", bob)) * 2:
        await app.client.get(path, headers=issuer.bearer(token))  # verified, linked, in L1
    front = Front(Recorder(), state=app.app.state, metrics=app.services.metrics)
    refused: list[list[tuple[bytes, bytes]]] = [
        [],  # anonymous
        [(b"authorization", b"Bearer not.a.jwt")],
        [auth_header(issuer.user_token(1))],  # never verified: the framework verifies it
        [auth_header(bob)],  # another user's data
        [auth_header(alice), auth_header(alice)],
    ]
    long_query = "q=" + "x" * 16384
    for path in ("/api/portfolio/1", f"/api/portfolio/1?{long_query}", "/api/top-picks"):
        for headers in refused:
            if path == "/api/top-picks" and headers == [auth_header(bob)]:
                continue  # anybody's: Bob may read it
            stack, _ = await via(front, path, headers)
            assert stack.reached, (path, headers)
    assert front.remembered_targets == 0
    # An allowed caller, on targets that are not canonical: nothing either.
    for path in ("/api/portfolio/01", f"/api/portfolio/1?{long_query}"):
        stack, _ = await via(front, path, [auth_header(alice)])
        assert stack.reached == [path.partition("?")[0]]
    assert front.remembered_targets == 0
    stack, sent = await via(front, "/api/portfolio/1", [auth_header(alice)])
    assert stack.reached == [] and sent[0]["status"] == 200
    # An allowed caller's canonical target is remembered, answered or not (nowhere cached).
    stack, sent = await via(front, "/api/dashboard/1", [auth_header(alice)])
    assert stack.reached == ["/api/dashboard/1"]
    assert front.remembered_targets == 2
    # A remembered target still decides per request: Bob gets nothing from Alice's plan.
    stack, sent = await via(front, "/api/portfolio/1", [auth_header(bob)])
    assert stack.reached == ["/api/portfolio/1"] and sent[0]["status"] == 299


async def test_the_remembered_targets_stay_bounded(
    redis_server: RedisServer, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_app(redis_server)
    authorization = [(b"authorization", app.client.headers["authorization"].encode())]
    monkeypatch.setattr(front_module, "MAX_PLANS", 5)
    front = Front(Recorder(), state=app.app.state, metrics=app.services.metrics)
    for limit in range(1, 13):
        path = f"/api/top-picks?limit={limit}"
        await app.client.get(path)  # into L1
        stack, _ = await via(front, path, authorization)
        assert stack.reached == []
        assert 1 <= front.remembered_targets <= 5  # full: the memo starts over


def test_a_full_memo_of_the_longest_targets_takes_a_few_mib() -> None:
    """The bound in bytes: MAX_PLANS plans, each for a target of MAX_TARGET_CHARS (the longest
    a canonical target can be), with the path strings a server would have made."""
    from starlette.datastructures import State

    longest = "/api/dashboard/" + "9" * 10
    assert len(longest) == reads.MAX_TARGET_CHARS
    assert reads.target_of(longest + "9", b"") is None  # one more digit: not canonical
    front = Front(Recorder(), state=State(), metrics=Metrics())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(front_module.MAX_PLANS):
            path = f"/api/dashboard/{1_000_000_000 + n}"
            target = reads.target_of(path, b"")
            assert target is not None
            front._remember((path, b""), target)
        used_bytes = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert front.remembered_targets == front_module.MAX_PLANS
    assert used_bytes < 5 * 1024 * 1024, used_bytes


@pytest.mark.parametrize(
    ("path", "query", "key"),
    [
        ("/api/portfolio/1", b"", "portfolio:1"),
        ("/api/dashboard/2147483647", b"", "dashboard:2147483647"),
        ("/api/top-picks", b"", "top_picks:10"),
        ("/api/top-picks", b"limit=50", "top_picks:50"),
        ("/api/portfolio/0", b"", None),
        ("/api/portfolio/2147483648", b"", None),
        ("/api/portfolio/+1", b"", None),
        ("/api/portfolio/\u0661", b"", None),  # an Arabic-Indic one: int() would take it
        ("/api/portfolio/1", b"x=1", None),
        ("/api/portfolio/1/", b"", None),
        ("/api/top-picks", b"limit=0", None),
        ("/api/top-picks", b"limit=51", None),
        ("/api/top-picks", b"limit=1&limit=2", None),
        ("/api/top-picks", b"LIMIT=5", None),
        ("/health", b"", None),
    ],
)
def test_only_canonical_targets_are_cached_reads(path: str, query: bytes, key: str | None) -> None:
    target = reads.target_of(path, query)
    assert (target.key if target is not None else None) == key
    if target is not None:
        assert len(path) + len(query) <= reads.MAX_TARGET_CHARS


def test_shared_starts_equal_fresh_ones_and_stay_bounded() -> None:
    starts = SharedStarts()
    for length in range(SharedStarts.MAX_ENTRIES + 10):
        body = b"x" * length
        assert starts.for_body(body) == hit_messages(body)[0]
    assert starts.for_body(b"abc") is starts.for_body(b"xyz")  # built once, shared
    assert len(starts._starts) <= SharedStarts.MAX_ENTRIES
