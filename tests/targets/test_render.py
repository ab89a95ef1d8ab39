"""render.yaml and service/redis.conf: Render's Blueprint schema, the doc rules it misses, and
the same Redis and app settings as the ECS task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from generators import default_configs
from generators.validate import validate_render
from tests.targets.conftest import ROOT, committed, mutated

DEV = default_configs().render


def _web(doc: Any) -> dict[str, Any]:
    return next(s for s in doc["services"] if s["type"] == "web")


def _redis(doc: Any) -> dict[str, Any]:
    return next(s for s in doc["services"] if s["type"] == "pserv")


def _env(doc: Any, key: str) -> dict[str, Any]:
    return next(v for v in _web(doc)["envVars"] if v["key"] == key)


def test_committed_blueprint_is_valid(blueprint: Any, render_schema: dict[str, Any]) -> None:
    assert validate_render(blueprint, schema=render_schema) == []


def test_redis_is_a_paid_private_docker_service_built_from_service_dir(blueprint: Any) -> None:
    redis = _redis(blueprint)
    assert redis["name"] == "fyntrix-redis"
    assert redis["runtime"] == "docker"
    assert redis["plan"] != "free"
    assert redis["dockerfilePath"] == "./service/Dockerfile.redis"
    assert redis["dockerContext"] == "./service"


def test_web_service_wires_redis_from_the_private_service(blueprint: Any) -> None:
    web = _web(blueprint)
    assert (web["name"], web["runtime"], web["healthCheckPath"]) == (
        "fyntrix-backend",
        "docker",
        DEV.app.health_check_path,
    )
    assert (web["dockerfilePath"], web["dockerContext"]) == ("./service/Dockerfile", "./service")
    assert _env(blueprint, "REDIS_HOST")["fromService"] == {
        "type": "pserv",
        "name": "fyntrix-redis",
        "property": "host",
    }
    assert _env(blueprint, "REDIS_PORT")["value"] == str(DEV.redis.port)
    # Redis listens on the private network: Render generates its password for the private
    # service, and the web service reads that same value
    assert _env(blueprint, "REDIS_PASSWORD") == {
        "key": "REDIS_PASSWORD",
        "fromService": {"type": "pserv", "name": "fyntrix-redis", "envVarKey": "REDIS_PASSWORD"},
    }
    (redis,) = [s for s in blueprint["services"] if s["type"] == "pserv"]
    assert redis["envVars"] == [{"key": "REDIS_PASSWORD", "generateValue": True}]


def test_plain_env_equals_ecs_app_environment_except_redis_host(blueprint: Any) -> None:
    plain = {v["key"]: v["value"] for v in _web(blueprint)["envVars"] if "value" in v}
    expected = DEV.app_environment()
    del expected["REDIS_HOST"]
    assert plain == expected


def test_every_secret_is_sync_false_and_has_no_value(blueprint: Any) -> None:
    secrets = [v for v in _web(blueprint)["envVars"] if v["key"] in DEV.app.secret_keys]
    assert [v["key"] for v in secrets] == list(DEV.app.secret_keys)
    assert all(v == {"key": v["key"], "sync": False} for v in secrets)


def test_redis_conf_has_the_sidecar_settings_with_an_all_interfaces_bind() -> None:
    lines = [
        line
        for line in committed("service/redis.conf").splitlines()
        if line and not line.startswith("#")
    ]
    assert lines == [
        *(f"{k} {v}" for k, v in DEV.redis.directives(bind="0.0.0.0")),
        # Never left to how the Redis was compiled (Debian's and upstream's default: yes).
        "protected-mode no",
    ]
    assert 'save ""' in lines
    assert "appendonly no" in lines
    assert f"maxmemory {DEV.redis.effective_maxmemory_mib}mb" in lines


def _set(path: str, value: Any) -> Callable[[Any], None]:
    """A change that sets services[<index>].<key> (path "1.healthCheckPath")."""
    index, key = path.split(".", 1)

    def change(doc: Any) -> None:
        doc["services"][int(index)][key] = value

    return change


def _set_redis_host(**fields: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        ref = _env(doc, "REDIS_HOST")["fromService"]
        ref.clear()
        ref.update(fields)

    return change


def _drop_runtime(doc: Any) -> None:
    del doc["services"][0]["runtime"]


def _old_env_spelling(doc: Any) -> None:
    doc["services"][0]["env"] = doc["services"][0].pop("runtime")


def _duplicate_service(doc: Any) -> None:
    doc["services"].append(dict(doc["services"][0]))


def _scaled_with_disk(doc: Any) -> None:
    web = _web(doc)
    web["disk"] = {"name": "data", "mountPath": "/data"}
    web["numInstances"] = 2


def _drop_web_env(key: str) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        web = _web(doc)
        web["envVars"] = [v for v in web["envVars"] if v["key"] != key]

    return change


def _duplicate_env(doc: Any) -> None:
    _web(doc)["envVars"].append({"key": "PORT", "value": "1"})


BROKEN: dict[str, tuple[Callable[[Any], None], str]] = {
    "free plan on pserv": (_set("0.plan", "free"), "plan `free` is not available for type pserv"),
    "healthCheckPath on pserv": (
        _set("0.healthCheckPath", "/health"),
        "healthCheckPath applies to web services only",
    ),
    "fromService without property or envVarKey": (
        _set_redis_host(type="pserv", name="fyntrix-redis"),
        "needs exactly one of `property` or `envVarKey`",
    ),
    "fromService naming a missing service": (
        _set_redis_host(type="pserv", name="fyntrix-cache", property="host"),
        "no service named 'fyntrix-cache' in this file",
    ),
    "fromService with the wrong type": (
        _set_redis_host(type="web", name="fyntrix-redis", property="host"),
        "is of type 'pserv', not 'web'",
    ),
    "schema: runtime missing": (_drop_runtime, "'runtime' is a required property"),
    "schema: env instead of runtime": (_old_env_spelling, "Additional properties"),
    "schema: unknown plan": (_set("1.plan", "huge"), "'huge' is not one of"),
    "schema: unknown property": (
        _set("1.healthCheck", "/health"),
        "Additional properties are not allowed ('healthCheck' was unexpected)",
    ),
    "duplicate service name": (_duplicate_service, "is used twice"),
    "redis password not generated": (
        _set("0.envVars", [{"key": "REDIS_PASSWORD", "value": "hunter2"}]),
        "REDIS_PASSWORD must be `generateValue: true`",
    ),
    "redis without a password": (_set("0.envVars", []), "defines no env var 'REDIS_PASSWORD'"),
    "web service without the redis password": (
        _drop_web_env("REDIS_PASSWORD"),
        "REDIS_HOST comes from 'fyntrix-redis' but REDIS_PASSWORD does not",
    ),
    "disk on a scaled service": (_scaled_with_disk, "a service with a disk cannot be scaled"),
    "env var set twice": (_duplicate_env, "PORT is set more than once"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validator_catches_a_broken_copy(
    case: str, blueprint: Any, render_schema: dict[str, Any]
) -> None:
    change, message = BROKEN[case]
    errors = validate_render(mutated(blueprint, change), schema=render_schema)
    assert any(message in e for e in errors), errors


def test_doc_rules_run_without_the_schema(blueprint: Any) -> None:
    broken = mutated(blueprint, _set("0.plan", "free"))
    assert validate_render(broken, schema=None) == [
        "render.yaml services[0] (fyntrix-redis): plan `free` is not available for type pserv "
        "(Render offers free instances to web services only); use e.g. starter"
    ]


def dockerfile_problems(text: str) -> list[str]:
    """Why a Dockerfile.redis would not run the generated redis.conf ([] = it does)."""
    lines = [line.strip() for line in text.splitlines()]
    copies = [line.split() for line in lines if line.upper().startswith(("COPY", "ADD"))]
    # COPY [--flags] redis.conf <dest>: the build context is service/, where the file is.
    dests = [words[-1] for words in copies if "redis.conf" in words[1:-1]]
    if not dests:
        return ["does not COPY redis.conf from its build context"]
    starts = [line for line in lines if line.upper().startswith(("CMD", "ENTRYPOINT"))]
    if not any(d.rstrip("/") in line or "redis.conf" in line for d in dests for line in starts):
        return ["does not start redis-server with the copied redis.conf"]
    return []


def test_dockerfile_check_can_fail() -> None:
    good = (
        "FROM redis:7-alpine\nCOPY redis.conf /usr/local/etc/redis/redis.conf\n"
        'CMD ["redis-server", "/usr/local/etc/redis/redis.conf"]\n'
    )
    assert dockerfile_problems(good) == []
    assert dockerfile_problems('FROM redis:7-alpine\nCMD ["redis-server"]\n') == [
        "does not COPY redis.conf from its build context"
    ]
    unused = 'FROM redis:7-alpine\nCOPY redis.conf /etc/r/\nCMD ["redis-server"]\n'
    assert dockerfile_problems(unused) == ["does not start redis-server with the copied redis.conf"]


def test_dockerfile_redis_runs_the_generated_conf() -> None:
    dockerfile = ROOT / "service" / "Dockerfile.redis"
    if not dockerfile.exists():
        pytest.skip("service/Dockerfile.redis is not written yet (owned by the service)")
    assert dockerfile_problems(dockerfile.read_text()) == []
