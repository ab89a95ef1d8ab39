"""Property-based API testing from the OpenAPI schema (schemathesis) against the real process.

Every generated request, valid or not, must get a documented answer and never a 5xx. Requests
carry a valid admin access token of the test issuer (so every operation is reachable);
schemathesis' own `ignored_auth` check also replays them without it and expects a 401.
Bounded and reproducible: a fixed seed and a fixed number of examples per operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings

from service.app import create_app
from service.settings import Settings
from testkit.auth import default_issuer
from testkit.servers import RedisServer
from testkit.service import ServiceProcess

# The schema comes from the app object (no server needed at collection); requests go to the
# real `python -m service` process below.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(**default_issuer().settings())).openapi()
)


@schema.auth()
class AdminToken:
    """A valid admin token on every case, except those where schemathesis removed the
    Authorization header on purpose (negative testing): those must get a 401."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return default_issuer().token(sub="schemathesis-admin", admin=True)

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


EXAMPLES_PER_OPERATION = 25  # ~7 operations: well under a minute on 2 cores
_cases_run: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _report_case_count(pytestconfig: pytest.Config) -> Iterator[None]:
    yield
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and _cases_run:
        reporter.write_line(f"schemathesis: {len(_cases_run)} cases run against the service")


@pytest.fixture
def service_url(
    redis_server: RedisServer,
    service_process_factory: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> str:
    service = service_process_factory(
        {"REDIS_PORT": str(redis_server.port), "SQLITE_PATH": str(tmp_path / "api.sqlite3")}
    )
    return service.base_url


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
