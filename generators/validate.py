"""Validators for the generated deploy files. Each returns a list of readable errors ([] = ok).

They check what the official schemas check (Render's Blueprint JSON Schema, the Compose
Specification schema, botocore's ECS model) plus the documented rules those schemas miss.
The generator runs them in memory before writing; the tests run them on the committed files
and on deliberately broken copies.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]  # no stubs for jsonschema

from generators.render_schema import SchemaError, load_cached
from infra.config import FARGATE_TASK_SIZES

__all__ = ["SchemaError", "load_render_schema"]


def load_render_schema() -> dict[str, Any]:
    """Render's Blueprint schema from the repository's cache (`make setup` fills and pins it;
    see generators/render_schema.py). SchemaError, saying to run setup, when it is not there."""
    return load_cached()


@functools.cache
def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema as check-jsonschema vendors it
    (`check-jsonschema --builtin-schema vendor.compose-spec`)."""
    files = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(files.joinpath("compose-spec.json").read_text())
    return schema


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "(root)"


def _schema_errors(validator: jsonschema.protocols.Validator, doc: Any, where: str) -> list[str]:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{where}{_path(e.absolute_path)}: {e.message}" for e in errors]


# ---------------------------------------------------------------- Render Blueprint

# Render offers the free instance type to web services, Postgres and Key Value only.
_NO_FREE_PLAN: Final = ("pserv", "worker", "cron")


def _render_definition(service: Mapping[str, Any]) -> str | None:
    """The schema definition a service must match, chosen by its type (as the schema's
    anyOf would, but with errors that name the real problem)."""
    kind = service.get("type")
    if kind in ("keyvalue", "redis"):
        return "redisServer"
    if kind == "cron":
        return "cronService"
    if kind == "web" and service.get("runtime") == "static":
        return "staticService"
    if kind in ("web", "worker", "pserv"):
        return "serverService"
    return None


def _render_groups(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(where, resources) of every place a Blueprint lists services and databases: the root,
    `ungrouped`, and each environment of each project."""
    groups: list[tuple[str, Mapping[str, Any]]] = [("render.yaml ", doc)]
    if isinstance(doc.get("ungrouped"), Mapping):
        groups.append(("render.yaml ungrouped.", doc["ungrouped"]))
    for p, project in enumerate(doc.get("projects") or []):
        if not isinstance(project, Mapping):
            continue
        for e, env in enumerate(project.get("environments") or []):
            if isinstance(env, Mapping):
                groups.append((f"render.yaml projects[{p}].environments[{e}].", env))
    return groups


def _render_services(doc: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(where, service, group) of every service in the Blueprint."""
    found = []
    for prefix, group in _render_groups(doc):
        services = group.get("services") or []
        for i, service in enumerate(services if isinstance(services, list) else []):
            name = service.get("name", "?") if isinstance(service, Mapping) else "?"
            found.append((f"{prefix}services[{i}] ({name})", service, prefix))
    return found


def validate_render(doc: Any, *, schema: Mapping[str, Any] | None) -> list[str]:
    """Render Blueprint: the JSON Schema (per service, by type) when given, plus the rules from
    Render's docs that the schema does not encode."""
    if not isinstance(doc, Mapping):
        return ["render.yaml: the document is not a mapping"]
    for prefix, group in _render_groups(doc):
        if not isinstance(group.get("services", []), list):
            return [f"{prefix}services: not a list"]
    services = _render_services(doc)
    errors: list[str] = []
    if schema is not None:
        defs = {"$schema": schema.get("$schema"), "definitions": schema["definitions"]}
        for where, service, _ in services:
            definition = _render_definition(service) if isinstance(service, Mapping) else None
            if definition is None:
                kind = service.get("type") if isinstance(service, Mapping) else None
                errors.append(f"{where} type: {kind!r} is not a service type")
                continue
            sub = dict(defs, **{"$ref": f"#/definitions/{definition}"})
            errors += _schema_errors(jsonschema.Draft202012Validator(sub), service, f"{where} ")
        # The whole document too, for everything outside `services`.
        if not errors:
            errors += _schema_errors(jsonschema.Draft202012Validator(schema), doc, "render.yaml ")
    errors += _render_service_rules(services)
    errors += _render_references(doc, services)
    errors += _render_redis_password(services)
    return errors


def _render_service_rules(services: list[tuple[str, Any, str]]) -> list[str]:
    """Rules of one service at a time, names unique across the file, one region per group."""
    errors: list[str] = []
    names: set[str] = set()
    regions: dict[str, set[str]] = {}
    for where, service, group in services:
        if not isinstance(service, Mapping):
            errors.append(f"{where}: not a mapping")
            continue
        name = str(service.get("name"))
        if name in names:
            errors.append(f"{where}: service name {name!r} is used twice")
        names.add(name)
        if "region" in service:
            regions.setdefault(group, set()).add(str(service["region"]))
        errors += _render_one_service(where, service)
    for group, found in regions.items():
        if len(found) > 1:
            errors.append(
                f"{group.strip('.')}: services in {', '.join(sorted(found))}; Render's private "
                "network is per region, so they cannot reach each other"
            )
    return errors


def _render_one_service(where: str, service: Mapping[str, Any]) -> list[str]:
    """The rules of one service on its own: plan, health check, disk, variables."""
    errors: list[str] = []
    kind = service.get("type")
    if kind in _NO_FREE_PLAN and service.get("plan", "starter") == "free":
        errors.append(
            f"{where}: plan `free` is not available for type {kind} "
            "(Render offers free instances to web services only); use e.g. starter"
        )
    if "healthCheckPath" in service and kind != "web":
        errors.append(f"{where}: healthCheckPath applies to web services only, not {kind}")
    if "disk" in service and (service.get("numInstances", 1) > 1 or "scaling" in service):
        errors.append(f"{where}: a service with a disk cannot be scaled")
    keys = [v.get("key") for v in service.get("envVars", []) if isinstance(v, Mapping)]
    errors += [
        f"{where} envVars: {key} is set more than once"
        for key in sorted({k for k in keys if k is not None and keys.count(k) > 1})
    ]
    return errors


def _render_references(doc: Mapping[str, Any], services: list[tuple[str, Any, str]]) -> list[str]:
    """Every fromService and fromDatabase names a resource of this file, of that type."""
    errors: list[str] = []
    by_name = {str(s.get("name")): s for _, s, _ in services if isinstance(s, Mapping)}
    databases = {
        str(d.get("name"))
        for _, group in _render_groups(doc)
        for d in group.get("databases") or []
        if isinstance(d, Mapping)
    }
    for where, service, _ in services:
        if not isinstance(service, Mapping):
            continue
        for j, var in enumerate(service.get("envVars", [])):
            if not isinstance(var, Mapping):
                continue
            at = f"{where}.envVars[{j}] ({var.get('key')})"
            db = var.get("fromDatabase")
            if isinstance(db, Mapping) and str(db.get("name")) not in databases:
                errors.append(f"{at} fromDatabase: no database named {db.get('name')!r}")
            ref = var.get("fromService")
            if isinstance(ref, Mapping):
                errors += _from_service_errors(at, ref, by_name)
    return errors


def _from_service_errors(
    at: str, ref: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """A fromService reference names a service of this file, of that type, and its key."""
    errors: list[str] = []
    has = [k for k in ("property", "envVarKey") if k in ref]
    if len(has) != 1:
        errors.append(f"{at} fromService: needs exactly one of `property` or `envVarKey`")
    target = by_name.get(str(ref.get("name")))
    if target is None:
        errors.append(f"{at} fromService: no service named {ref.get('name')!r} in this file")
    elif target.get("type") != ref.get("type"):
        errors.append(
            f"{at} fromService: {ref.get('name')!r} is of type {target.get('type')!r}, "
            f"not {ref.get('type')!r}"
        )
    elif "envVarKey" in ref and ref["envVarKey"] not in _env_keys(target):
        errors.append(
            f"{at} fromService: {ref.get('name')!r} defines no env var {ref['envVarKey']!r}"
        )
    return errors


def _env_keys(service: Mapping[str, Any]) -> set[str]:
    return {str(v.get("key")) for v in service.get("envVars", []) if isinstance(v, Mapping)}


def _render_redis_password(services: list[tuple[str, Any, str]]) -> list[str]:
    """Redis on Render's private network is reachable by every service of the workspace: a
    service that reaches a private service as REDIS_HOST must also read REDIS_PASSWORD from
    it, and that service must have Render generate the value (never a value in the file).
    (Key Value is Render's own: its internal connections take no password.)"""
    errors: list[str] = []
    by_name = {str(s.get("name")): s for _, s, _ in services if isinstance(s, Mapping)}
    for service in by_name.values():
        refs = {
            str(v.get("key")): v["fromService"]
            for v in service.get("envVars", [])
            if isinstance(v, Mapping) and isinstance(v.get("fromService"), Mapping)
        }
        host = refs.get("REDIS_HOST")
        if host is None or host.get("type") != "pserv":
            continue
        where = f"render.yaml {service.get('name')} envVars"
        redis_name = str(host.get("name"))
        password = refs.get("REDIS_PASSWORD")
        if password is None or password.get("name") != redis_name:
            errors.append(
                f"{where}: REDIS_HOST comes from {redis_name!r} but REDIS_PASSWORD does not "
                "(fromService ... envVarKey: REDIS_PASSWORD)"
            )
        redis = by_name.get(redis_name, {})
        generated = [
            v
            for v in redis.get("envVars", [])
            if isinstance(v, Mapping) and v.get("key") == "REDIS_PASSWORD"
        ]
        if not generated or generated[0].get("generateValue") is not True:
            errors.append(
                f"render.yaml {redis_name} envVars: REDIS_PASSWORD must be `generateValue: true` "
                "(Redis listens on the private network)"
            )
    return errors


# ---------------------------------------------------------------- Compose

# `$$`, `$NAME`, `${NAME}`, `${NAME<op>text}` with op one of :- - :? ? :+ +
_INTERPOLATION: Final = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+][^}]*)?\}"
    r"|(?P<invalid>))"
)


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))


def compose_variables(doc: Any) -> dict[str, bool]:
    """Variables a compose file interpolates -> whether it requires them (`:?`/`?`)."""
    found: dict[str, bool] = {}
    for _, text in _strings(doc):
        for m in _INTERPOLATION.finditer(text):
            name = m.group("bare") or m.group("braced")
            if name:
                required = (m.group("op") or "").lstrip(":").startswith("?")
                found[name] = found.get(name, False) or required
    return found


def _service_has_healthcheck(service: Mapping[str, Any]) -> bool:
    hc = service.get("healthcheck")
    if not isinstance(hc, Mapping) or hc.get("disable") in (True, "true"):
        return False
    test = hc.get("test")
    return bool(test) and test != ["NONE"]


def _published_on_loopback(port: Any) -> bool:
    if isinstance(port, Mapping):
        return port.get("host_ip") == "127.0.0.1"
    text = str(port)
    # HOST_IP:HOST_PORT:CONTAINER_PORT; a bare "PORT" or "H:C" publishes on every interface.
    return text.startswith("127.0.0.1:") and text.count(":") >= 2


def validate_compose(doc: Any) -> list[str]:
    """Compose Specification schema plus what `docker compose`'s loader rejects beyond it, and
    one project policy: ports are published on the host's loopback only."""
    errors = _schema_errors(
        jsonschema.Draft202012Validator(compose_schema()), doc, "docker-compose.yml "
    )
    if not isinstance(doc, Mapping):
        return errors or ["docker-compose.yml: the document is not a mapping"]
    services = doc.get("services") or {}
    if not isinstance(services, Mapping):
        return errors
    errors += _compose_interpolation_errors(doc)
    named_volumes = set((doc.get("volumes") or {}).keys())
    for name, service in services.items():
        where = f"docker-compose.yml services.{name}"
        if not isinstance(service, Mapping):
            continue
        errors += _compose_healthcheck_errors(where, service)
        errors += _compose_depends_on_errors(where, service, services)
        errors += _compose_redis_auth(where, service)
        errors += _compose_port_errors(where, service)
        errors += _compose_volume_errors(where, service, named_volumes)
    return errors


def _compose_interpolation_errors(doc: Mapping[str, Any]) -> list[str]:
    return [
        f"docker-compose.yml {_path(path)}: invalid interpolation in {text!r} "
        "(write $$ for a literal $)"
        for path, text in _strings(doc)
        for m in _INTERPOLATION.finditer(text)
        if m.group("invalid") is not None
    ]


def _compose_healthcheck_errors(where: str, service: Mapping[str, Any]) -> list[str]:
    hc = service.get("healthcheck")
    test = hc.get("test") if isinstance(hc, Mapping) else None
    if not isinstance(test, list):
        return []
    if not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        return [f"{where}.healthcheck.test: a list must start with CMD, CMD-SHELL or NONE"]
    if test[0] != "NONE" and len(test) < 2:
        return [f"{where}.healthcheck.test: {test[0]} needs a command"]
    return []


def _compose_depends_on_errors(
    where: str, service: Mapping[str, Any], services: Mapping[str, Any]
) -> list[str]:
    errors: list[str] = []
    deps = service.get("depends_on") or {}
    dep_items: Iterable[tuple[str, Mapping[str, Any]]] = (
        [(d, {}) for d in deps] if isinstance(deps, list) else deps.items()
    )
    own_profiles = set(service.get("profiles") or ())
    for dep, spec in dep_items:
        target = services.get(dep)
        if target is None:
            errors.append(f"{where}.depends_on: no service named {dep!r}")
            continue
        if spec.get("condition") == "service_healthy" and not _service_has_healthcheck(target):
            errors.append(
                f"{where}.depends_on.{dep}: condition service_healthy, but {dep} has no "
                "health check"
            )
        target_profiles = set(target.get("profiles") or ())
        # A service without profiles always starts; its dependency may not.
        optional = not (own_profiles and own_profiles <= target_profiles)
        if target_profiles and optional and spec.get("required", True) is not False:
            errors.append(
                f"{where}.depends_on.{dep}: {dep} only runs with profile(s) "
                f"{', '.join(sorted(target_profiles))}; mark the dependency "
                "`required: false`"
            )
    return errors


def _compose_port_errors(where: str, service: Mapping[str, Any]) -> list[str]:
    return [
        f"{where}.ports: {port!r} is published beyond 127.0.0.1 (policy: local "
        "ports are loopback-only)"
        for port in service.get("ports") or ()
        if not _published_on_loopback(port)
    ]


def _compose_volume_errors(
    where: str, service: Mapping[str, Any], named_volumes: set[str]
) -> list[str]:
    errors: list[str] = []
    for mount in service.get("volumes") or ():
        source = mount.get("source") if isinstance(mount, Mapping) else str(mount)
        source = str(source).split(":", 1)[0]
        if source and not source.startswith((".", "/", "~", "$")) and source not in named_volumes:
            errors.append(f"{where}.volumes: named volume {source!r} is not declared")
    return errors


_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "-::1", "localhost"})


def _compose_redis_auth(where: str, service: Mapping[str, Any]) -> list[str]:
    """A redis-server sets protected-mode explicitly (images disagree on its default), and one
    that binds beyond loopback requires a password taken from the environment, with no
    default (`--requirepass ${VAR:?...}`)."""
    command = service.get("command")
    if not isinstance(command, list) or not command or command[0] != "redis-server":
        return []
    args = [str(a) for a in command]

    def values(flag: str) -> list[str]:
        if flag not in args:
            return []
        following = args[args.index(flag) + 1 :]
        return list(itertools.takewhile(lambda a: not a.startswith("--"), following))

    errors = []
    if values("--protected-mode") not in (["yes"], ["no"]):
        errors.append(f"{where}.command: set --protected-mode yes|no explicitly")
    binds = values("--bind")
    if not binds or not set(binds) <= _LOOPBACK:
        password = values("--requirepass")
        match = _INTERPOLATION.fullmatch(password[0]) if len(password) == 1 else None
        op = (match.group("op") or "") if match else ""
        if not (match and match.group("braced") and op.lstrip(":").startswith("?")):
            errors.append(
                f"{where}.command: redis-server listens beyond loopback ({binds or 'all'}) "
                "without --requirepass ${VAR:?message} (a required password from .env)"
            )
    return errors


_ENV_LINE: Final = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


def env_example_keys(text: str) -> list[str]:
    """Keys set (uncommented) in an env file, in order."""
    return [m.group("key") for line in text.splitlines() if (m := _ENV_LINE.match(line))]


def validate_env_example(text: str, compose_doc: Any) -> list[str]:
    """Every variable compose interpolates is listed (uncommented), once; nothing else is set;
    every other line is a comment or blank."""
    errors: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.startswith("#") and not _ENV_LINE.match(line):
            errors.append(f".env.example line {n}: not KEY=value or a comment: {line!r}")
    keys = env_example_keys(text)
    wanted = compose_variables(compose_doc)
    for key in sorted(set(keys)):
        if keys.count(key) > 1:
            errors.append(f".env.example: {key} is set more than once")
    for key in sorted(set(wanted) - set(keys)):
        errors.append(f".env.example: {key} is read by docker-compose.yml but not listed")
    for key in sorted(set(keys) - set(wanted)):
        errors.append(f".env.example: {key} is not read by docker-compose.yml")
    return errors


# ---------------------------------------------------------------- ECS task definition

# ECS's documented ranges for container health checks (seconds, retries).
_HEALTH_RANGES: Final = {
    "interval": (5, 300),
    "timeout": (2, 120),
    "retries": (1, 10),
    "startPeriod": (0, 300),
}
# Fargate caps a container's startTimeout and stopTimeout at 120 s.
_FARGATE_MAX_TIMEOUT_S: Final = 120


@functools.cache
def _register_task_definition_input() -> Any:
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def _enum_errors(value: Any, shape: Any, path: str) -> list[str]:
    """botocore's ParamValidator checks types and required keys, not enums: walk the model."""
    errors: list[str] = []
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for key, member in shape.members.items():
            if key in value:
                errors += _enum_errors(value[key], member, f"{path}.{key}".lstrip("."))
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            errors += _enum_errors(item, shape.member, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            errors += _enum_errors(item, shape.value, f"{path}.{key}")
    elif kind == "string" and shape.enum and isinstance(value, str) and value not in shape.enum:
        errors.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
    return errors


def _ints(*values: Any) -> list[int] | None:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        return None


def validate_task_definition(doc: Any) -> list[str]:
    """`register-task-definition` input: botocore's model (types, required and unknown keys),
    enums from the model, and the ECS/Fargate rules the model does not express."""
    where = "ecs-task-definition.json"
    if not isinstance(doc, Mapping):
        return [f"{where}: the document is not an object"]
    task = _Task.of(doc, where)
    errors = _task_model_errors(doc, where) + _task_errors(task) + _fargate_size_errors(task)
    ports_seen: dict[int, str] = {}
    for i, c in enumerate(task.containers):
        cw = f"{where} containerDefinitions[{i}] ({c.get('name')})"
        errors += _container_errors(task, c, cw, ports_seen)
    return errors


@dataclass(frozen=True, kw_only=True)
class _Task:
    """What the task-level rules read of a task definition."""

    doc: Mapping[str, Any]
    where: str
    containers: Sequence[Mapping[str, Any]]
    fargate: bool
    awsvpc: bool
    volumes: list[Any]

    @classmethod
    def of(cls, doc: Mapping[str, Any], where: str) -> _Task:
        return cls(
            doc=doc,
            where=where,
            containers=[c for c in doc.get("containerDefinitions") or () if isinstance(c, Mapping)],
            fargate="FARGATE" in (doc.get("requiresCompatibilities") or ()),
            awsvpc=doc.get("networkMode") == "awsvpc",
            volumes=[v.get("name") for v in doc.get("volumes") or () if isinstance(v, Mapping)],
        )

    def container(self, name: Any) -> Mapping[str, Any] | None:
        return {c.get("name"): c for c in self.containers}.get(name)


def _task_model_errors(doc: Mapping[str, Any], where: str) -> list[str]:
    """What botocore's model of `register-task-definition` says, enums included."""
    from botocore.validate import ParamValidator

    shape = _register_task_definition_input()
    report = ParamValidator().validate(dict(doc), shape)
    errors: list[str] = []
    if report.has_errors():
        errors += [
            f"{where}: {line.strip()}"
            for line in report.generate_report().splitlines()
            if line.strip()
        ]
    return errors + [f"{where} {e}" for e in _enum_errors(doc, shape, "")]


def _task_errors(task: _Task) -> list[str]:
    where, names = task.where, [c.get("name") for c in task.containers]
    errors = [
        f"{where}: container name {name!r} is used twice"
        for name in sorted({n for n in names if names.count(n) > 1}, key=str)
    ]
    errors += [
        f"{where}: volume name {name!r} is used twice"
        for name in sorted({v for v in task.volumes if task.volumes.count(v) > 1}, key=str)
    ]
    if task.containers and not any(c.get("essential", True) for c in task.containers):
        errors.append(f"{where}: at least one container must be essential")
    if task.fargate and not task.awsvpc:
        errors.append(f"{where}: Fargate tasks need networkMode awsvpc")
    return errors


def _fargate_size_errors(task: _Task) -> list[str]:
    """Fargate's task sizes, and the containers' memory within the task's."""
    if not task.fargate:
        return []
    where, sizes = task.where, _ints(task.doc.get("cpu"), task.doc.get("memory"))
    if sizes is None:
        return [f"{where}: Fargate needs task-level cpu and memory as whole numbers"]
    errors: list[str] = []
    cpu, memory = sizes
    allowed = FARGATE_TASK_SIZES.get(cpu)
    if allowed is None:
        errors.append(f"{where} cpu: {cpu} CPU units is not a Fargate task size")
    elif memory not in allowed:
        errors.append(
            f"{where} memory: {memory} MiB is not a Fargate size for {cpu} CPU units "
            f"({allowed[0]}-{allowed[-1]} MiB)"
        )
    total = sum(int(c.get("memory") or 0) for c in task.containers)
    if total > memory:
        errors.append(
            f"{where}: containers' memory ({total} MiB) exceeds the task's ({memory} MiB)"
        )
    return errors


def _container_errors(
    task: _Task, c: Mapping[str, Any], cw: str, ports_seen: dict[int, str]
) -> list[str]:
    """One container's rules; `ports_seen` collects the task's ports across containers."""
    # The model marks neither as required; ECS rejects a container without them.
    errors = [f"{cw}: needs {key}" for key in ("name", "image") if not c.get(key)]
    errors += _depends_on_errors(task, c, cw)
    hc = c.get("healthCheck")
    if isinstance(hc, Mapping):
        errors += _health_check_errors(hc, cw)
    errors += _port_errors(task, c, cw, ports_seen)
    errors += [
        f"{cw} mountPoints: sourceVolume {mp.get('sourceVolume')!r} is not a task volume"
        for mp in c.get("mountPoints") or ()
        if mp.get("sourceVolume") not in task.volumes
    ]
    env = [e.get("name") for e in c.get("environment") or ()]
    env += [s.get("name") for s in c.get("secrets") or ()]
    errors += [
        f"{cw}: variable {var!r} is set more than once (environment/secrets)"
        for var in sorted({v for v in env if env.count(v) > 1}, key=str)
    ]
    if task.fargate:
        errors += [
            f"{cw} {key}: {c.get(key)} s exceeds Fargate's {_FARGATE_MAX_TIMEOUT_S} s"
            for key in ("startTimeout", "stopTimeout")
            if isinstance(c.get(key), int) and c[key] > _FARGATE_MAX_TIMEOUT_S
        ]
    return errors + _log_errors(task, c, cw)


def _depends_on_errors(task: _Task, c: Mapping[str, Any], cw: str) -> list[str]:
    errors: list[str] = []
    for dep in c.get("dependsOn") or ():
        target_name = dep.get("containerName")
        target = task.container(target_name)
        if target is None:
            errors.append(f"{cw} dependsOn: no container named {target_name!r}")
        elif target_name == c.get("name"):
            errors.append(f"{cw} dependsOn: a container cannot depend on itself")
        elif dep.get("condition") == "HEALTHY" and not target.get("healthCheck"):
            errors.append(
                f"{cw} dependsOn: condition HEALTHY, but {target_name!r} has no healthCheck"
            )
    return errors


def _health_check_errors(hc: Mapping[str, Any], cw: str) -> list[str]:
    errors: list[str] = []
    command = hc.get("command") or []
    if not command or command[0] not in ("CMD", "CMD-SHELL") or len(command) < 2:
        errors.append(f"{cw} healthCheck.command: must be [CMD|CMD-SHELL, ...]")
    for key, (low, high) in _HEALTH_RANGES.items():
        value = hc.get(key)
        if isinstance(value, int) and not low <= value <= high:
            errors.append(f"{cw} healthCheck.{key}: {value} is outside {low}-{high}")
    interval, timeout = hc.get("interval", 30), hc.get("timeout", 5)
    if isinstance(interval, int) and isinstance(timeout, int) and timeout >= interval:
        errors.append(f"{cw} healthCheck.timeout: must be shorter than the interval")
    return errors


def _port_errors(
    task: _Task, c: Mapping[str, Any], cw: str, ports_seen: dict[int, str]
) -> list[str]:
    errors: list[str] = []
    if not task.awsvpc:
        return errors
    for pm in c.get("portMappings") or ():
        container_port, host_port = pm.get("containerPort"), pm.get("hostPort")
        if host_port is not None and host_port != container_port:
            errors.append(
                f"{cw} portMappings: hostPort {host_port} must equal containerPort "
                f"{container_port} under awsvpc"
            )
        if isinstance(container_port, int):
            # One network namespace per task: two containers cannot share a port.
            if container_port in ports_seen:
                errors.append(
                    f"{cw} portMappings: port {container_port} is already mapped by "
                    f"{ports_seen[container_port]!r}"
                )
            ports_seen[container_port] = str(c.get("name"))
    return errors


def _log_errors(task: _Task, c: Mapping[str, Any], cw: str) -> list[str]:
    logs = c.get("logConfiguration")
    if not isinstance(logs, Mapping) or logs.get("logDriver") != "awslogs":
        return []
    options = logs.get("options") or {}
    required = ["awslogs-group", "awslogs-region"]
    if task.fargate:  # Fargate has no container ID to name streams by
        required.append("awslogs-stream-prefix")
    return [
        f"{cw} logConfiguration: awslogs needs option {option}"
        for option in required
        if not options.get(option)
    ]
