"""Property-based API testing from the OpenAPI schema (schemathesis) against the real process.

Every generated request, valid or not, must get a documented answer and never a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from service.app import create_app
from service.settings import Settings
from testkit.servers import RedisServer
from testkit.service import ServiceProcess

# The schema comes from the app object (no server needed at collection); requests go to the
# real `python -m service` process below.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


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
@settings(
    max_examples=25,  # per operation: ~10 operations, well under a minute on 2 cores
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, service_url: str) -> None:
    case.call_and_validate(base_url=service_url)
