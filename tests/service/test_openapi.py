"""Property-based API testing from the OpenAPI schema (schemathesis) against the real process.

Every generated request, valid or not, must get a documented answer and never a 5xx. Requests
carry a valid admin access token of the test issuer (so every operation is reachable);
schemathesis' own `ignored_auth` check also replays them without it and expects a 401.
Bounded and reproducible: a fixed seed and a fixed number of examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from requests.structures import CaseInsensitiveDict

from service.app import create_app
from service.settings import Settings
from testkit.auth import default_issuer
from testkit.servers import RedisServer, ServerUnavailableError, missing_binary
from testkit.service import start_service_process

# Starts its servers itself (module scope), so it carries the tier the fixtures would give it.
pytestmark = pytest.mark.servers

# The schema comes from the app object (no server needed at collection); requests go to the
# real `python -m service` process below.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(**default_issuer().settings())).openapi()
)


@schema.auth()
class AdminToken:
    """A valid admin token on every case, except those where schemathesis removed the
    Authorization header on purpose (negative testing): those must get a 401."""

    def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
        return default_issuer().token(sub="schemathesis-admin", admin=True)

    def set(
        self, case: schemathesis.Case[Any], data: str, context: schemathesis.AuthContext
    ) -> None:
        # A new mapping, assigned: schemathesis tracks assignments to revalidate the case.
        case.headers = CaseInsensitiveDict({**case.headers, "Authorization": f"Bearer {data}"})


EXAMPLES_PER_OPERATION = 25  # ~7 operations: well under a minute on 2 cores
_cases_run: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _report_case_count(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and _cases_run:
        reporter.write_line(f"schemathesis: {len(_cases_run)} cases run against the service")


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Redis and one service for every operation's cases: the property is about answers to
    arbitrary requests, which a service that has already served other cases must give too."""
    tmp = tmp_path_factory.mktemp("openapi")
    try:
        redis = RedisServer(tmp / "redis")
    except ServerUnavailableError as exc:
        missing_binary(str(exc))
    redis.start()
    try:
        env = {"REDIS_PORT": str(redis.port), "SQLITE_PATH": str(tmp / "api.sqlite3")}
        service = start_service_process(env, tmp / "service.log")
        try:
            yield service.base_url
        finally:
            service.stop()
    finally:
        redis.kill()


@schema.parametrize()
@seed(20261111)
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case[Any], service_url: str) -> None:
    _cases_run.append(case.operation.label)
    case.call_and_validate(base_url=service_url)
