"""`make redis-cli` / `make doctor` (tools/ecs_exec.py) against the local AWS emulator.

The emulator (moto, as `make up` runs it) holds a cluster, the stage's service and tasks made
with boto3; the tool must find the service's running task and build the exact
`aws ecs execute-command`. ECS Exec itself (an SSM session into a container) cannot run here.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.config import load_stage
from testkit.emulator import DUMMY_CREDENTIALS
from testkit.forked import Preloader, Run
from tests.ops.conftest import ROOT
from tools import ecs_exec

DEV = load_stage("dev")
REGION = DEV.region
# CloudFormation names the cluster and the service (docs/reference/names.md); the tool reads
# them from the service stack's outputs. A service name in CloudFormation's style:
SERVICE = f"{DEV.service_stack_name}-AppService7F8F0CA1-Ab12Cd34Ef56"


def _post(url: str, body: dict[str, Any] | None = None) -> None:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback URL we built)
        pass


@pytest.fixture
def aws(emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty emulator, and this process's boto3 pointed at it. Yields the endpoint."""
    _post(f"{emulator}/moto-api/reset")
    # moto moves a task one lifecycle state on at every read (RUNNING, DEACTIVATING, ...);
    # a service's task stays RUNNING, so hold it there for the test.
    _post(
        f"{emulator}/moto-api/state-manager/set-transition",
        {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10_000}},
    )
    for name, value in aws_env(emulator).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    return emulator


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


def deploy_stack(*, cluster_output: str | None = None, region: str = REGION) -> str:
    """The stage's service stack, as far as the lookup cares: a cluster CloudFormation names,
    and the `ClusterName` (default: that cluster) and `ServiceName` outputs. Returns the
    cluster's name."""
    template = {
        "Resources": {"Cluster": {"Type": "AWS::ECS::Cluster"}},
        "Outputs": {
            "ClusterName": {"Value": cluster_output or {"Ref": "Cluster"}},
            "ServiceName": {"Value": SERVICE},
        },
    }
    cfn = boto3.client("cloudformation", region_name=region)
    cfn.create_stack(StackName=DEV.service_stack_name, TemplateBody=json.dumps(template))
    outputs = cfn.describe_stacks(StackName=DEV.service_stack_name)["Stacks"][0]["Outputs"]
    cluster: str = {o["OutputKey"]: o["OutputValue"] for o in outputs}["ClusterName"]
    assert cluster.startswith(f"{DEV.service_stack_name}-Cluster"), cluster
    return cluster


def deploy_stage(*, tasks: int = 1, region: str = REGION) -> list[str]:
    """What `make deploy` leaves in ECS, as far as the lookup cares: the stage's stack (its
    cluster and outputs), task definition and service, and `tasks` running tasks of that
    service. Returns their ARNs."""
    cluster = deploy_stack(region=region)
    ec2 = boto3.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # As the CDK VPC has it (and moto needs it to give a task's network interface a DNS name).
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    ecs = boto3.client("ecs", region_name=region)
    task_definition = ecs.register_task_definition(
        family=DEV.task_family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu=str(DEV.task_cpu),
        memory=str(DEV.task_memory_mib),
        containerDefinitions=[
            {"name": "app", "image": "fyntrix-app:test", "memory": DEV.app.memory_mib},
            {"name": "redis", "image": "fyntrix-redis:test", "memory": DEV.redis.memory_mib},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=cluster,
        serviceName=SERVICE,
        taskDefinition=task_definition,
        desiredCount=tasks,
        launchType="FARGATE",
        networkConfiguration=network,
        enableExecuteCommand=True,
    )
    # A one-off task in the same cluster (e.g. a migration): never the one to exec into.
    ecs.run_task(
        cluster=cluster,
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration=network,
        group="family:one-off",
    )
    # moto does not start a service's tasks; start them as ECS would, in the service's group.
    arns = []
    for _ in range(tasks):
        started = ecs.run_task(
            cluster=cluster,
            taskDefinition=task_definition,
            launchType="FARGATE",
            networkConfiguration=network,
            group=f"service:{SERVICE}",
            enableExecuteCommand=True,
        )
        arns.append(started["tasks"][0]["taskArn"])
    return arns


# Each run is forked from a process that has imported boto3 and the stage config
# (testkit/forked.py; tests/ops/test_cli_process.py checks a fork behaves as a new process).
ECS_EXEC = Preloader(["boto3", "infra.config"])
atexit.register(ECS_EXEC.close)


def run_tool(*args: str, env: dict[str, str], path: Path) -> Run:
    """`python -m tools.ecs_exec ARGS` with PATH = `path` only (no aws there unless a
    test puts one), as a real process."""
    return ECS_EXEC.run("tools.ecs_exec", args, env={**env, "PATH": str(path)}, timeout_s=60)


def expected_argv(
    task_arn: str, container: str, command: str, *, region: str = REGION
) -> list[str]:
    cluster = task_arn.split("/")[-2] if task_arn.count("/") == 2 else "?"
    return [
        "aws",
        "ecs",
        "execute-command",
        "--region",
        region,
        "--cluster",
        cluster,
        "--task",
        task_arn.rsplit("/", 1)[-1],
        "--interactive",
        "--container",
        container,
        "--command",
        command,
    ]


@pytest.fixture
def empty_path(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    return path


def _base_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CDK_")) and k not in ("ARGS", "STAGE")
    }


# ----------------------------------------------------------------------------------- lookup


def test_find_task_picks_the_services_running_task(aws: str) -> None:
    # GIVEN the stage deployed, with its service's task and a one-off task in the same cluster
    (service_task,) = deploy_stage()
    # WHEN
    cfn = boto3.client("cloudformation", region_name=REGION)
    names = ecs_exec.service_names(cfn, DEV)
    task = ecs_exec.find_task(boto3.client("ecs", region_name=REGION), DEV, names)
    # THEN the service's task (from the stack's outputs), never the one-off
    assert names.service == SERVICE
    assert task.arn == service_task
    assert task.cluster == names.cluster == service_task.split("/")[-2]
    assert task.id == service_task.rsplit("/", 1)[-1]


def test_redis_cli_prints_the_exact_command_when_aws_is_missing(aws: str, empty_path: Path) -> None:
    (task_arn,) = deploy_stage()
    env = {**_base_env(), **aws_env(aws)}
    result = run_tool(
        "redis-cli", "--stage", "dev", "--args", "INFO memory", env=env, path=empty_path
    )
    assert result.returncode == ecs_exec.EXIT_TOOLS_MISSING, result.stderr
    assert result.stdout == (
        f"aws ecs execute-command --region us-east-1 --cluster {task_arn.split('/')[-2]} "
        f"--task {task_arn.rsplit('/', 1)[-1]} --interactive --container redis "
        "--command 'redis-cli -p 6379 INFO memory'\n"
    )
    assert shlex.split(result.stdout) == expected_argv(
        task_arn, "redis", "redis-cli -p 6379 INFO memory"
    )
    assert "aws is not on PATH (install: https://docs.aws.amazon.com/cli/" in result.stderr
    assert "session-manager-plugin is not on PATH" in result.stderr


def test_doctor_targets_the_app_container(aws: str, empty_path: Path) -> None:
    (task_arn,) = deploy_stage()
    env = {**_base_env(), **aws_env(aws)}
    result = run_tool("doctor", "--stage", "dev", env=env, path=empty_path)
    assert result.returncode == ecs_exec.EXIT_TOOLS_MISSING, result.stderr
    assert shlex.split(result.stdout) == expected_argv(
        task_arn, "app", "python -m service.ops doctor --target ecs"
    )


def test_any_ops_command_in_the_app_container(aws: str, empty_path: Path) -> None:
    (task_arn,) = deploy_stage()
    env = {**_base_env(), **aws_env(aws)}
    result = run_tool("ops", "--args", "cache keys dashboard:*", env=env, path=empty_path)
    assert result.returncode == ecs_exec.EXIT_TOOLS_MISSING, result.stderr
    assert shlex.split(result.stdout) == expected_argv(
        task_arn, "app", "python -m service.ops cache keys dashboard:*"
    )


def test_make_redis_cli_and_make_doctor(aws: str, empty_path: Path) -> None:
    # GIVEN `make` with ARGS holding a space and quotes, and no aws on PATH
    (task_arn,) = deploy_stage()
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {**_base_env(), **aws_env(aws), "PATH": str(empty_path)}
    # -o: treat the venv as up to date (this test must not reinstall packages)
    base = [make, "--no-print-directory", "-o", ".venv/.installed"]
    result = subprocess.run(
        [*base, "redis-cli", "STAGE=dev", 'ARGS=GET "dashboard:1"'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # THEN the exact command, with ARGS as typed (make reports the tool's status 4 as an error)
    assert result.returncode != 0
    assert shlex.split(result.stdout) == expected_argv(
        task_arn, "redis", 'redis-cli -p 6379 GET "dashboard:1"'
    )
    doctor = subprocess.run(
        [*base, "doctor", "STAGE=dev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shlex.split(doctor.stdout) == expected_argv(
        task_arn, "app", "python -m service.ops doctor --target ecs"
    )


def test_make_redis_cli_and_doctor_use_the_stage_files_region(
    aws: str, empty_path: Path, tmp_path: Path
) -> None:
    # GIVEN the stage deployed in another region than the default, a stage file saying so, and
    # a shell whose AWS region is still the default (the tools must not follow it)
    other = "eu-west-1"
    (task_arn,) = deploy_stage(region=other)
    stage_file = tmp_path / "dev.toml"
    stage_file.write_text(f'region = "{other}"\n')
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {**_base_env(), **aws_env(aws), "PATH": str(empty_path)}
    base = [make, "--no-print-directory", "-o", ".venv/.installed"]
    for target, container, command in (
        ("redis-cli", "redis", "redis-cli -p 6379 INFO"),
        ("doctor", "app", "python -m service.ops doctor --target ecs"),
    ):
        # WHEN the make target runs with that stage file
        result = subprocess.run(
            [*base, target, "STAGE=dev", f"STAGE_FILE={stage_file}", "ARGS=INFO"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # THEN it found the task in that region and the command goes there
        assert shlex.split(result.stdout) == expected_argv(
            task_arn, container, command, region=other
        ), result.stderr
    # AND without the file, the default region has no such cluster, and the error says where
    # it looked
    missing = run_tool("redis-cli", "--stage", "dev", env=aws_env(aws), path=empty_path)
    assert missing.returncode == ecs_exec.EXIT_NO_TASK
    assert f"does not exist in {REGION}" in missing.stderr


def test_runs_aws_with_exactly_that_argv_and_returns_its_status(aws: str, tmp_path: Path) -> None:
    # GIVEN an `aws` and a `session-manager-plugin` on PATH; this `aws` records its argv and
    # exits 7 (the real one would open an SSM session, which the emulator cannot serve)
    (task_arn,) = deploy_stage()
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    fake_aws = bin_dir / "aws"
    # (sh, not a `#!` naming this venv's python: the kernel splits a `#!` line at its first
    # space, and the clone's path may have one)
    code = (
        f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.exit(7)\n"
    )
    fake_aws.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)} "$@"\n'
    )
    plugin = bin_dir / "session-manager-plugin"
    plugin.write_text("#!/bin/sh\nexit 0\n")
    for tool in (fake_aws, plugin):
        tool.chmod(0o755)
    env = {**_base_env(), **aws_env(aws)}
    # WHEN
    result = run_tool("redis-cli", "--args", "INFO stats", env=env, path=bin_dir)
    # THEN
    assert result.returncode == 7
    assert ["aws", *json.loads(record.read_text())] == expected_argv(
        task_arn, "redis", "redis-cli -p 6379 INFO stats"
    )
    assert result.stdout == ""
    task_id, cluster = task_arn.rsplit("/", 1)[-1], task_arn.split("/")[-2]
    assert f"task {task_id} ({cluster}): aws ecs" in result.stderr


def test_print_only_and_an_explicit_task(aws: str, empty_path: Path) -> None:
    # GIVEN the stage's stack deployed; the operator names the task (its id)
    cluster = deploy_stack()
    env = {**_base_env(), **aws_env(aws)}
    result = run_tool("redis-cli", "--task", "0123abcd", "--print-only", env=env, path=empty_path)
    # THEN the command for that task, in the cluster the stack's output names
    assert result.returncode == 0, result.stderr
    assert shlex.split(result.stdout) == [
        *expected_argv(f"arn:task/{cluster}/0123abcd", "redis", "redis-cli -p 6379")[:-1],
        "redis-cli -p 6379",
    ]


# ------------------------------------------------------------------------------------ errors


def test_no_running_task_names_the_cluster_and_service(aws: str, empty_path: Path) -> None:
    # GIVEN the stage deployed, but its only task stopped
    (task_arn,) = deploy_stage()
    cluster = task_arn.split("/")[-2]
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.stop_task(cluster=cluster, task=task_arn, reason="test")
    env = {**_base_env(), **aws_env(aws)}
    # WHEN
    result = run_tool("redis-cli", "--args", "PING", env=env, path=empty_path)
    # THEN
    assert result.returncode == ecs_exec.EXIT_NO_TASK
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"error: no running task of service {SERVICE} in cluster {cluster} "
        f"(us-east-1). Check with `aws ecs list-tasks --region us-east-1 --cluster "
        f"{cluster} --service-name {SERVICE} --desired-status RUNNING`"
    )
    assert "Traceback" not in result.stderr


def test_a_stage_not_deployed(aws: str, empty_path: Path) -> None:
    env = {**_base_env(), **aws_env(aws)}
    for argv in (["doctor"], ["redis-cli", "--task", "0123abcd", "--print-only"]):
        result = run_tool(*argv, "--stage", "prod", env=env, path=empty_path)
        assert result.returncode == ecs_exec.EXIT_NO_TASK
        assert result.stderr.startswith(
            "error: stack Fyntrix-Service-prod does not exist in us-east-1: deploy the stage "
            "(`make deploy STAGE=prod`)"
        )


def test_a_missing_cluster(aws: str, empty_path: Path) -> None:
    # GIVEN a stack whose output names a cluster that does not exist (any more)
    cluster = deploy_stack(cluster_output=f"{DEV.service_stack_name}-Cluster-GONE")
    env = {**_base_env(), **aws_env(aws)}
    result = run_tool("doctor", env=env, path=empty_path)
    assert result.returncode == ecs_exec.EXIT_NO_TASK, result.stderr
    assert result.stderr.startswith(f"error: cluster {cluster} does not exist in us-east-1.")


def test_no_credentials(tmp_path: Path, empty_path: Path) -> None:
    # GIVEN no credentials anywhere boto3 looks (and no instance metadata to ask)
    env = {
        **_base_env(),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = run_tool("redis-cli", env=env, path=empty_path)
    assert result.returncode == ecs_exec.EXIT_USAGE
    assert result.stderr.startswith("error: no usable AWS credentials (NoCredentialsError:")
    assert "`aws sts get-caller-identity`" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_stage(empty_path: Path) -> None:
    result = run_tool("redis-cli", "--stage", "qa", env=_base_env(), path=empty_path)
    assert result.returncode == ecs_exec.EXIT_USAGE
    assert result.stderr.startswith("error: invalid setting `stage`: unknown stage 'qa'")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["redis-cli"], ["doctor"], ["ops"]):
        with pytest.raises(SystemExit) as exit_info:
            ecs_exec.main([*argv, "--help"])
        assert exit_info.value.code == 0
        assert "usage: python -m tools.ecs_exec" in capsys.readouterr().out


def test_container_names_and_port_match_the_task_definition() -> None:
    # The generated task definition (ecs-task-definition.json) is the deployed one's twin.
    definition = json.loads((ROOT / "ecs-task-definition.json").read_text())
    containers = {c["name"]: c for c in definition["containerDefinitions"]}
    assert {ecs_exec.REDIS_CONTAINER, ecs_exec.APP_CONTAINER} <= set(containers)
    redis_command = containers[ecs_exec.REDIS_CONTAINER]["command"]
    port = redis_command[redis_command.index("--port") + 1]
    assert ecs_exec.redis_cli_command(DEV, "") == f"redis-cli -p {port}"
    # The app image runs `python -m ...` (its health check does too).
    assert containers[ecs_exec.APP_CONTAINER]["healthCheck"]["command"][1] == "python"
