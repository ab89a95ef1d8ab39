"""Rehearsal checks of the stacks, the registry, the cluster and the task definition: the
sidecar's shape (app first, Redis HEALTHY before the app), memory split, health checks, Redis's
bounded command, the app's environment and secret, container hardening. Through the AWS APIs,
from the template where the emulator drops the setting (network mode, Fargate, task CPU)."""

from __future__ import annotations

import json

from infra.config import REGISTRY_STACK_NAME
from infra.task_design import (
    APP_CONTAINER,
    ECS_REDIS_BIND,
    REDIS_CONTAINER,
    app_health_command,
    redis_health_command,
)
from service.secrets_env import SECRETS_JSON_ENV
from tools.rehearsal.checks import CheckList, Deployment, expect, one

# The app's plain auth wiring (public facts: issuer, client ids, group, stage).
AUTH_KEYS = ("APP_STAGE", "AUTH_ISSUER", "AUTH_CLIENT_IDS", "AUTH_ADMIN_GROUP")

CHECKS = CheckList()


@CHECKS.add("stacks deployed", "api")
def stacks(d: Deployment) -> str:
    config, states = d.config, []
    for name in (REGISTRY_STACK_NAME, config.state_stack_name, config.service_stack_name):
        stack = d.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        expect(status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), f"{name}: {status}")
        states.append(f"{name} {status}")
    return "; ".join(states)


@CHECKS.add("registry: repository, immutable tags", "api")
def registry(d: Deployment) -> str:
    found = d.client("ecr").describe_repositories(repositoryNames=[d.config.repository_name])
    repo = found["repositories"][0]
    expect(repo["imageTagMutability"] == "IMMUTABLE", "tags are mutable")
    return f"{repo['repositoryUri']} (IMMUTABLE)"


@CHECKS.add("registry: scan, encryption, lifecycle", "template")
def registry_template(d: Deployment) -> str:
    props = one(d.registry_template, "AWS::ECR::Repository")
    expect(props["ImageScanningConfiguration"] == {"ScanOnPush": True}, "no scan on push")
    expect(props["EncryptionConfiguration"]["EncryptionType"] == "KMS", "not KMS")
    expect("LifecyclePolicy" in props, "no lifecycle rule")
    return "scan on push, KMS, lifecycle rule"


@CHECKS.add("cluster", "api")
def cluster(d: Deployment) -> str:
    cluster_name = d.names.cluster
    found = d.client("ecs").describe_clusters(clusters=[cluster_name])["clusters"]
    expect(bool(found) and found[0]["status"] == "ACTIVE", f"{cluster_name} missing")
    return f"{cluster_name} ACTIVE"


@CHECKS.add("task: family, containers (app first), memory", "api")
def td_shape(d: Deployment) -> str:
    td = d.task_definition()
    names = [c["name"] for c in td["containerDefinitions"]]
    expect(names == [APP_CONTAINER, REDIS_CONTAINER], f"containers {names}")
    expect(td["memory"] == str(d.config.task_memory_mib), f"task memory {td['memory']}")
    return f"{td['family']}:{td['revision']} containers {names}, {td['memory']} MiB"


@CHECKS.add("task: awsvpc on Fargate", "template")
def td_network(d: Deployment) -> str:
    props = one(d.service_template, "AWS::ECS::TaskDefinition")
    expect(props["NetworkMode"] == "awsvpc", props["NetworkMode"])
    expect(props["RequiresCompatibilities"] == ["FARGATE"], "not Fargate")
    expect(props["Cpu"] == str(d.config.task_cpu), f"cpu {props['Cpu']}")
    return f"awsvpc, FARGATE, {props['Cpu']} CPU units"


@CHECKS.add("task: memory split", "api")
def memory_split(d: Deployment) -> str:
    c = d.containers()
    app_mem, redis_mem = c[APP_CONTAINER]["memory"], c[REDIS_CONTAINER]["memory"]
    expect(app_mem == d.config.app.memory_mib, f"app {app_mem}")
    expect(redis_mem == d.config.redis.memory_mib, f"redis {redis_mem}")
    return f"app {app_mem} MiB + redis {redis_mem} MiB"


@CHECKS.add("task: app dependsOn redis HEALTHY", "api")
def depends_on(d: Deployment) -> str:
    deps = d.containers()[APP_CONTAINER].get("dependsOn", [])
    expect(
        deps == [{"containerName": REDIS_CONTAINER, "condition": "HEALTHY"}],
        f"dependsOn {deps}",
    )
    return "app waits for redis HEALTHY"


@CHECKS.add("task: health checks (strict PONG)", "api")
def health_checks(d: Deployment) -> str:
    c, redis = d.containers(), d.config.redis
    app_hc = c[APP_CONTAINER].get("healthCheck", {})
    redis_hc = c[REDIS_CONTAINER].get("healthCheck", {})
    expect(app_hc.get("command") == app_health_command(), f"app {app_hc}")
    expect(redis_hc.get("command") == redis_health_command(redis.port), f"redis {redis_hc}")
    expect(c[REDIS_CONTAINER].get("startTimeout") == redis.start_timeout_s, "startTimeout")
    return f"app `{' '.join(app_hc['command'][1:])}`, redis `{redis_hc['command'][1]}`"


@CHECKS.add("task: redis command (bounded, no persistence)", "api")
def redis_command(d: Deployment) -> str:
    redis = d.config.redis
    cmd = d.containers()[REDIS_CONTAINER]["command"]
    expect(cmd == redis.command_args(bind=ECS_REDIS_BIND), f"command {cmd}")
    return f"maxmemory {redis.effective_maxmemory_mib}mb {redis.maxmemory_policy}, no RDB, no AOF"


@CHECKS.add("task: app environment", "api")
def app_env(d: Deployment) -> str:
    config = d.config
    app = d.containers()[APP_CONTAINER]
    env = {e["name"]: e["value"] for e in app.get("environment", [])}
    expect(env.get("REDIS_HOST") == "localhost", f"REDIS_HOST={env.get('REDIS_HOST')}")
    expect(env.get("REDIS_PORT") == str(config.redis.port), "REDIS_PORT")
    leaked = set(env) & set(config.app.secret_keys)
    expect(not leaked, f"secrets in plain environment: {leaked}")
    wiring = {k: v for k, v in env.items() if k not in AUTH_KEYS}
    expect(wiring == config.app_environment(redis_host="localhost"), "environment differs")
    return "REDIS_HOST=localhost, no secret in plain env"


@CHECKS.add("task: secrets from Secrets Manager", "api")
def app_secrets(d: Deployment) -> str:
    # The whole secret as one variable (service/secrets_json.py): its keys are the
    # operators', never the template's.
    sm, secret_arn = d.client("secretsmanager"), d.names.secret_arn
    app = d.containers()[APP_CONTAINER]
    secrets = {s["name"]: s["valueFrom"] for s in app.get("secrets", [])}
    expect(secrets == {SECRETS_JSON_ENV: secret_arn}, f"secrets {secrets}")
    described = sm.describe_secret(SecretId=secret_arn)
    expect(described["Name"].startswith(f"{d.config.secret_name_prefix}-"), described["Name"])
    stored = json.loads(sm.get_secret_value(SecretId=secret_arn)["SecretString"])
    expect(isinstance(stored, dict), "the secret's value is not a JSON object")
    return f"{SECRETS_JSON_ENV} = {described['Name']} (the state stack's), {len(stored)} keys"


@CHECKS.add("task: hardening", "api")
def hardening(d: Deployment) -> str:
    c, user = d.containers(), d.config.app.user
    for name in (APP_CONTAINER, REDIS_CONTAINER):
        expect(c[name].get("readonlyRootFilesystem") is True, f"{name} root writable")
        expect(
            c[name].get("linuxParameters", {}).get("initProcessEnabled") is True,
            f"{name} has no init process",
        )
    expect(c[APP_CONTAINER].get("user") == user, "app user")
    return f"read-only roots, init process, app user {user}"
