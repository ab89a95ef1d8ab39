"""render.yaml and service/redis.conf: Render's Blueprint schema, the doc rules it misses, and
the same Redis and app settings as the ECS task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from generators import default_configs
from generators.render_blueprint import blueprint as blueprint_of
from generators.validate import validate_render
from infra.config import ConfigError, StageConfig, load_stage
from tests.targets.conftest import ROOT, committed, mutated

CONFIGS = default_configs().render
DEV, PROD = CONFIGS


def _environment(doc: Any, stage: str) -> dict[str, Any]:
    (project,) = doc["projects"]
    return next(e for e in project["environments"] if e["name"] == stage)


def _web(doc: Any, stage: str = "dev") -> dict[str, Any]:
    return next(s for s in _environment(doc, stage)["services"] if s["type"] == "web")


def _redis(doc: Any, stage: str = "dev") -> dict[str, Any]:
    return next(s for s in _environment(doc, stage)["services"] if s["type"] == "pserv")


def _env(doc: Any, key: str, stage: str = "dev") -> dict[str, Any]:
    return next(v for v in _web(doc, stage)["envVars"] if v["key"] == key)


def test_committed_blueprint_is_valid(blueprint: Any, render_schema: dict[str, Any]) -> None:
    assert validate_render(blueprint, schema=render_schema) == []


def test_one_project_with_an_environment_per_stage(blueprint: Any) -> None:
    assert [p["name"] for p in blueprint["projects"]] == ["fyntrix"]
    assert [e["name"] for e in blueprint["projects"][0]["environments"]] == ["dev", "prod"]
    assert set(blueprint) == {"projects"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_each_environment_runs_its_stage_in_its_region(blueprint: Any, stage: str) -> None:
    config = DEV if stage == "dev" else PROD
    # The app applies its stage's rules (a deployed stage never runs as another)
    assert _env(blueprint, "APP_STAGE", stage)["value"] == stage
    assert _env(blueprint, "SEED_DEMO_DATA", stage)["value"] == (
        "true" if stage == "dev" else "false"
    )
    # Every service of the stage in the Render region beside the stage's AWS region
    regions = {s["region"] for s in _environment(blueprint, stage)["services"]}
    assert regions == {"virginia"}
    assert config.region == "us-east-1"


def test_redis_is_a_paid_private_docker_service_built_from_service_dir(blueprint: Any) -> None:
    redis = _redis(blueprint)
    assert redis["name"] == "fyntrix-dev-redis"
    assert _redis(blueprint, "prod")["name"] == "fyntrix-prod-redis"
    assert redis["runtime"] == "docker"
    assert redis["plan"] != "free"
    assert redis["dockerfilePath"] == "./service/Dockerfile.redis"
    assert redis["dockerContext"] == "./service"


def test_build_filters_redeploy_only_what_a_push_changed(blueprint: Any) -> None:
    for stage in ("dev", "prod"):
        web, redis = _web(blueprint, stage), _redis(blueprint, stage)
        assert web["buildFilter"] == {
            "paths": ["service/**"],
            "ignoredPaths": ["service/Dockerfile.redis", "service/redis.conf"],
        }
        assert redis["buildFilter"] == {"paths": ["service/Dockerfile.redis", "service/redis.conf"]}
    # dev deploys after the commit's checks pass; prod only when someone deploys it
    assert {_web(blueprint, s)["autoDeployTrigger"] for s in ("dev",)} == {"checksPass"}
    assert _web(blueprint, "prod")["autoDeployTrigger"] == "off"
    assert _redis(blueprint, "prod")["autoDeployTrigger"] == "off"


def test_web_service_wires_redis_from_the_private_service(blueprint: Any) -> None:
    web = _web(blueprint)
    assert (web["name"], web["runtime"], web["healthCheckPath"]) == (
        "fyntrix-dev-backend",
        "docker",
        DEV.app.health_check_path,
    )
    assert (web["dockerfilePath"], web["dockerContext"]) == ("./service/Dockerfile", "./service")
    assert _env(blueprint, "REDIS_HOST")["fromService"] == {
        "type": "pserv",
        "name": "fyntrix-dev-redis",
        "property": "host",
    }
    assert _env(blueprint, "REDIS_PORT")["value"] == str(DEV.redis.port)
    # Redis listens on the private network: Render generates its password for the private
    # service, and the web service reads that same value
    assert _env(blueprint, "REDIS_PASSWORD") == {
        "key": "REDIS_PASSWORD",
        "fromService": {
            "type": "pserv",
            "name": "fyntrix-dev-redis",
            "envVarKey": "REDIS_PASSWORD",
        },
    }
    assert _redis(blueprint)["envVars"] == [{"key": "REDIS_PASSWORD", "generateValue": True}]


def test_plain_env_is_the_ecs_app_environment_plus_the_stage_and_ops_port(
    blueprint: Any,
) -> None:
    for stage, config in (("dev", DEV), ("prod", PROD)):
        plain = {v["key"]: v["value"] for v in _web(blueprint, stage)["envVars"] if "value" in v}
        expected = config.app_environment()
        del expected["REDIS_HOST"]
        assert plain == {
            **expected,
            "OPS_PORT": str(config.app.ops_port),
            "APP_STAGE": stage,
            "AUTH_ADMIN_GROUP": config.auth.admin_group,
        }
        assert config.app.ops_port != config.app.port


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


# ---------------------------------------------------------------- the config's Render choices


def _with(stage: str, **overrides: str) -> StageConfig:
    return load_stage(stage, image_tag="v1", overrides=overrides)


def test_key_value_and_render_postgres_are_valid_choices(render_schema: dict[str, Any]) -> None:
    # GIVEN prod on Render Key Value and a Render Postgres
    prod = _with("prod", **{"render.cache": "keyvalue", "render.database": "render-postgres"})
    doc = blueprint_of((_with("dev"), prod))
    assert validate_render(doc, schema=render_schema) == []
    env = _environment(doc, "prod")
    (cache,) = [s for s in env["services"] if s["type"] == "keyvalue"]
    # THEN a private, non-persistent, evicting Key Value, and the app wired to it
    assert cache == {
        "type": "keyvalue",
        "name": "fyntrix-prod-cache",
        "region": "virginia",
        "plan": "starter",
        "maxmemoryPolicy": prod.redis.maxmemory_policy,
        "persistenceMode": "off",
        "ipAllowList": [],
    }
    assert _env(doc, "REDIS_HOST", "prod")["fromService"] == {
        "type": "keyvalue", "name": "fyntrix-prod-cache", "property": "host"
    }  # fmt: skip
    assert _env(doc, "REDIS_PORT", "prod")["fromService"]["property"] == "port"
    keys = [v["key"] for v in _web(doc, "prod")["envVars"]]
    assert "REDIS_PASSWORD" not in keys and "REDIS_EXPECTED_MAXMEMORY_BYTES" not in keys
    # AND a Render Postgres reachable on the private network only, as DATABASE_URL
    (db,) = env["databases"]
    assert (db["name"], db["region"], db["ipAllowList"]) == ("fyntrix-prod-db", "virginia", [])
    assert _env(doc, "DATABASE_URL", "prod") == {
        "key": "DATABASE_URL",
        "fromDatabase": {"name": "fyntrix-prod-db", "property": "connectionString"},
    }


def test_the_render_region_follows_the_stage_region_or_is_named() -> None:
    moved = _with("dev", region="eu-central-1")
    assert _environment(blueprint_of((moved,)), "dev")["services"][0]["region"] == "frankfurt"
    # No Render region in eu-west-1: the generator says which setting to add
    with pytest.raises(ConfigError) as err:
        blueprint_of((_with("dev", region="eu-west-1"),))
    assert err.value.setting == "render.region"
    assert "no Render region sits in eu-west-1" in err.value.problem
    named = _with("dev", region="eu-west-1", **{"render.region": "frankfurt"})
    assert _web(blueprint_of((named,)))["region"] == "frankfurt"


def test_private_services_of_every_stage_share_one_redis_conf() -> None:
    more = {"redis.memory_mib": "512", "task_memory_mib": "2048"}
    bigger = _with("prod", **more)
    with pytest.raises(ConfigError) as err:
        blueprint_of((_with("dev"), bigger))
    assert "service/redis.conf" in err.value.problem
    # a stage on Key Value does not use it
    keyvalue = _with("prod", **more, **{"render.cache": "keyvalue"})
    blueprint_of((_with("dev"), keyvalue))


def test_the_ops_port_is_never_render_public_or_reserved_port() -> None:
    for port in ("10000", "18012"):
        with pytest.raises(ConfigError) as err:
            blueprint_of((_with("dev", **{"app.ops_port": port}),))
        assert err.value.setting == "app.ops_port"


# ---------------------------------------------------------------- the validator's own rules


def _services(doc: Any) -> list[dict[str, Any]]:
    services: list[dict[str, Any]] = _environment(doc, "dev")["services"]
    return services


def _set(path: str, value: Any) -> Callable[[Any], None]:
    """A change that sets dev's services[<index>].<key> (path "1.healthCheckPath")."""
    index, key = path.split(".", 1)

    def change(doc: Any) -> None:
        _services(doc)[int(index)][key] = value

    return change


def _set_redis_host(**fields: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        ref = _env(doc, "REDIS_HOST")["fromService"]
        ref.clear()
        ref.update(fields)

    return change


def _drop_runtime(doc: Any) -> None:
    del _services(doc)[0]["runtime"]


def _old_env_spelling(doc: Any) -> None:
    _services(doc)[0]["env"] = _services(doc)[0].pop("runtime")


def _duplicate_service(doc: Any) -> None:
    # prod's Redis under dev's name: names are unique across the whole file
    _environment(doc, "prod")["services"][0]["name"] = "fyntrix-dev-redis"


def _missing_database(doc: Any) -> None:
    env = _web(doc)["envVars"]
    env[:] = [{"key": "DATABASE_URL", "fromDatabase": {"name": "fyntrix-db-dev",
              "property": "connectionString"}} if v["key"] == "DATABASE_URL" else v
              for v in env]  # fmt: skip


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
        _set_redis_host(type="pserv", name="fyntrix-dev-redis"),
        "needs exactly one of `property` or `envVarKey`",
    ),
    "fromService naming a missing service": (
        _set_redis_host(type="pserv", name="fyntrix-nowhere", property="host"),
        "no service named 'fyntrix-nowhere' in this file",
    ),
    "fromService with the wrong type": (
        _set_redis_host(type="web", name="fyntrix-dev-redis", property="host"),
        "is of type 'pserv', not 'web'",
    ),
    "fromDatabase naming a missing database": (
        _missing_database,
        "fromDatabase: no database named 'fyntrix-db-dev'",
    ),
    "services of one environment in two regions": (
        _set("0.region", "frankfurt"),
        "services in frankfurt, virginia; Render's private network is per region",
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
        "REDIS_HOST comes from 'fyntrix-dev-redis' but REDIS_PASSWORD does not",
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
        "render.yaml projects[0].environments[0].services[0] (fyntrix-dev-redis): plan `free` "
        "is not available for type pserv (Render offers free instances to web services only); "
        "use e.g. starter"
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
