"""`make redis-cli` and `make doctor`: a command in a running ECS task, through ECS Exec.

    python -m tools.ecs_exec redis-cli --stage dev --args "INFO memory"
    python -m tools.ecs_exec doctor --stage dev
    python -m tools.ecs_exec ops --stage dev --args "cache stats"

Finds a RUNNING task of the stage's service with boto3 (region from the stage as it deploys:
its stage file, then --set/--region one-off overrides; the cluster and service names are the
service stack's `ClusterName` and `ServiceName` outputs: CloudFormation generates them),
then runs `aws ecs execute-command --region REGION ... --interactive --container redis|app
--command ...`.
ECS Exec needs the AWS CLI and its Session Manager plugin on this machine: when either is
missing, the exact command is printed instead, to run where they are installed.

Exit status: the command's own status when it ran; 0 with --print-only; 2 bad flags, unknown
stage or no usable credentials; 3 no running task (or stage not deployed, cluster/service not
found, ECS Exec off);
4 `aws` or `session-manager-plugin` missing (the command is printed on stdout).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import ConfigError, StageConfig, load_configured_stage
from tools.stack_outputs import StackNotDeployed, stack_outputs

EXIT_USAGE = 2
EXIT_NO_TASK = 3
EXIT_TOOLS_MISSING = 4

# The task definition's container names (infra/constructs: app and its redis sidecar).
REDIS_CONTAINER = "redis"
APP_CONTAINER = "app"

AWS_CLI_INSTALL = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
SSM_PLUGIN_INSTALL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)
# AWS error codes that mean "these credentials do not work", not "no such thing".
_CREDENTIAL_ERRORS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "AccessDeniedException",
        "AccessDenied",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)


class ExecError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True, kw_only=True)
class ServiceNames:
    """The deployed ECS names of a stage (its service stack's outputs)."""

    cluster: str
    service: str


@dataclass(frozen=True, kw_only=True)
class Task:
    arn: str
    cluster: str

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


def _credentials_error(exc: Exception) -> ExecError:
    return ExecError(
        f"error: no usable AWS credentials ({exc.__class__.__name__}: {exc}).\n"
        "Configure them first, e.g. `aws configure` or `export AWS_PROFILE=...`, "
        "then check with `aws sts get-caller-identity`.",
        EXIT_USAGE,
    )


def _list_tasks_hint(config: StageConfig, names: ServiceNames) -> str:
    return (
        f"aws ecs list-tasks --region {config.region} --cluster {names.cluster} "
        f"--service-name {names.service} --desired-status RUNNING"
    )


def _api_error(exc: Exception) -> ExecError:
    """A credentials problem, or another refusal of the AWS API."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return _credentials_error(exc)
    if isinstance(exc, ClientError):
        if exc.response.get("Error", {}).get("Code", "") in _CREDENTIAL_ERRORS:
            return _credentials_error(exc)
        return ExecError(f"error: the AWS API refused: {exc}", EXIT_USAGE)
    return ExecError(f"error: cannot call the AWS API: {exc}", EXIT_USAGE)


def service_names(cloudformation: Any, config: StageConfig) -> ServiceNames:
    """The stage's cluster and service, from its service stack's outputs."""
    from botocore.exceptions import BotoCoreError, ClientError

    stack = config.service_stack_name
    try:
        outputs = stack_outputs(cloudformation, stack)
    except StackNotDeployed as exc:
        raise ExecError(
            f"error: stack {stack} does not exist in {config.region}: deploy the stage "
            f"(`make deploy STAGE={config.stage}`) or check the region.",
            EXIT_NO_TASK,
        ) from exc
    except (BotoCoreError, ClientError) as exc:
        raise _api_error(exc) from exc
    if "ClusterName" not in outputs or "ServiceName" not in outputs:
        raise ExecError(
            f"error: stack {stack} has no ClusterName/ServiceName outputs: deploy the stage "
            f"again (`make deploy STAGE={config.stage}`).",
            EXIT_NO_TASK,
        )
    return ServiceNames(cluster=outputs["ClusterName"], service=outputs["ServiceName"])


def find_task(ecs: Any, config: StageConfig, names: ServiceNames) -> Task:
    """A RUNNING task of the stage's service that accepts ECS Exec."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    cluster, service = names.cluster, names.service
    try:
        arns: list[str] = []
        for page in ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, serviceName=service, desiredStatus="RUNNING"
        ):
            arns += page.get("taskArns", [])
        described = ecs.describe_tasks(cluster=cluster, tasks=arns[:100])["tasks"] if arns else []
    except NoCredentialsError as exc:
        raise _credentials_error(exc) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _CREDENTIAL_ERRORS:
            raise _credentials_error(exc) from exc
        if code == "ClusterNotFoundException":
            raise ExecError(
                f"error: cluster {cluster} does not exist in {config.region}. Deploy the stage "
                f"(`make deploy STAGE={config.stage}`) or check the region: "
                f"`aws ecs list-clusters --region {config.region}`.",
                EXIT_NO_TASK,
            ) from exc
        if code == "ServiceNotFoundException":
            raise ExecError(
                f"error: service {service} does not exist in cluster {cluster} "
                f"({config.region}). Check with `aws ecs list-services --region {config.region} "
                f"--cluster {cluster}`.",
                EXIT_NO_TASK,
            ) from exc
        raise ExecError(f"error: the ECS API refused: {exc}", EXIT_USAGE) from exc
    except BotoCoreError as exc:
        raise ExecError(f"error: cannot call the ECS API: {exc}", EXIT_USAGE) from exc

    # list_tasks filters by service already on AWS; the group check keeps that true on
    # emulators that ignore serviceName (a service's tasks are in group `service:<name>`).
    running = [
        t
        for t in described
        if t.get("lastStatus") == "RUNNING"
        and t.get("group", f"service:{service}").endswith(f":{service}")
    ]
    if not running:
        raise ExecError(
            f"error: no running task of service {service} in cluster {cluster} "
            f"({config.region}). Check with `{_list_tasks_hint(config, names)}`; "
            f"`aws ecs describe-services --region {config.region} --cluster {cluster} "
            f"--services {service} --query 'services[0].events[:5]'` shows why tasks stop.",
            EXIT_NO_TASK,
        )
    usable = [t for t in running if t.get("enableExecuteCommand", True)]
    if not usable:
        raise ExecError(
            f"error: ECS Exec is off for every running task of {service}: set enable_exec "
            f"(infra/config/) and `make deploy STAGE={config.stage}`; tasks started before "
            f"it was on keep it off until replaced: `aws ecs update-service --region "
            f"{config.region} --cluster {cluster} --service {service} --force-new-deployment`.",
            EXIT_NO_TASK,
        )
    return Task(arn=str(usable[0]["taskArn"]), cluster=cluster)


def redis_cli_command(config: StageConfig, args: str) -> str:
    """`redis-cli -p PORT ARGS` as ECS Exec's --command (no ARGS: an interactive redis-cli)."""
    command = f"redis-cli -p {config.redis.port}"
    return f"{command} {args.strip()}" if args.strip() else command


OPS_COMMAND = "python -m service.ops"
DOCTOR_COMMAND = f"{OPS_COMMAND} doctor --target ecs"
NAMES_ONLY_IMAGE_TAG = "ecs-exec-lookup"


def execute_command_argv(
    config: StageConfig, task: Task, container: str, command: str
) -> list[str]:
    return [
        "aws",
        "ecs",
        "execute-command",
        "--region",
        config.region,
        "--cluster",
        task.cluster,
        "--task",
        task.id,
        "--interactive",
        "--container",
        container,
        "--command",
        command,
    ]


def missing_tools() -> list[str]:
    return [tool for tool in ("aws", "session-manager-plugin") if shutil.which(tool) is None]


def _run(argv: list[str]) -> int:
    # Like system(3): while the interactive session runs, Ctrl-C belongs to it, not to us.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.run(argv, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.ecs_exec",
        description="Run redis-cli, the ops doctor or any service.ops command in a running "
        "task of a stage, through "
        "ECS Exec (needs the AWS CLI and the Session Manager plugin; without them the exact "
        "command is printed).",
        epilog="exit status: the command's own; 2 bad flags, unknown stage or no credentials; "
        "3 no running task; 4 aws or session-manager-plugin missing (command printed).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{redis-cli,doctor,ops}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stage", default="dev", help="stage to look in (default dev)")
    common.add_argument(
        "--stage-file",
        type=Path,
        help="the stage's settings file (default: stages/<stage>.toml), as make's STAGE_FILE",
    )
    common.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a one-off setting override, as make's SET (repeatable)",
    )
    common.add_argument(
        "--region", help="AWS region for this run (default: the stage's `region` setting)"
    )
    common.add_argument("--task", help="task id or ARN to use instead of looking one up")
    common.add_argument(
        "--print-only", action="store_true", help="print the aws command instead of running it"
    )
    rc = sub.add_parser(
        "redis-cli",
        parents=[common],
        help="redis-cli in the task's redis container",
        description="redis-cli -p PORT ARGS in the redis container of a running task.",
    )
    rc.add_argument(
        "--args",
        default="",
        metavar="ARGS",
        help='redis-cli arguments, e.g. "INFO memory" (empty: an interactive redis-cli)',
    )
    sub.add_parser(
        "doctor",
        parents=[common],
        help=f"`{DOCTOR_COMMAND}` in the task's app container",
        description=f"`{DOCTOR_COMMAND}` in the app container of a running task.",
    )
    ops = sub.add_parser(
        "ops",
        parents=[common],
        help=f"`{OPS_COMMAND} ARGS` in the task's app container",
        description=f'`{OPS_COMMAND} ARGS` (e.g. "cache stats") in the app container of a '
        "running task.",
    )
    ops.add_argument(
        "--args",
        required=True,
        metavar="ARGS",
        help='service.ops arguments, e.g. "cache stats" or "cache keys dashboard:*"',
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = _config(parser, args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    container, command = _container_command(config, args)
    try:
        task = _task(config, args)
    except ExecError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    argv_ = execute_command_argv(config, task, container, command)
    if args.print_only:
        print(shlex.join(argv_))
        return 0
    missing = missing_tools()
    if missing:
        where = {"aws": AWS_CLI_INSTALL, "session-manager-plugin": SSM_PLUGIN_INSTALL}
        for tool in missing:
            print(f"{tool} is not on PATH (install: {where[tool]})", file=sys.stderr)
        print("run this where both are installed:", file=sys.stderr)
        print(shlex.join(argv_))
        return EXIT_TOOLS_MISSING
    print(f"task {task.id} ({task.cluster}): {shlex.join(argv_)}", file=sys.stderr)
    return _run(argv_)


def _config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> StageConfig:
    """The stage's settings with the command line's `--set` and `--region`."""
    overrides: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: use SETTING=VALUE, e.g. region=eu-west-1")
        overrides[key] = value
    if args.region:
        overrides["region"] = args.region
    # The image tag names no stack or container; prod refuses `latest`, so
    # give it a tag that satisfies the check and is used for nothing.
    config, _ = load_configured_stage(
        args.stage,
        image_tag=NAMES_ONLY_IMAGE_TAG,
        overrides=overrides,
        stage_file=args.stage_file,
    )
    return config


def _container_command(config: StageConfig, args: argparse.Namespace) -> tuple[str, str]:
    if args.command == "redis-cli":
        return REDIS_CONTAINER, redis_cli_command(config, args.args)
    if args.command == "ops":
        return APP_CONTAINER, f"{OPS_COMMAND} {args.args.strip()}"
    return APP_CONTAINER, DOCTOR_COMMAND


def _task(config: StageConfig, args: argparse.Namespace) -> Task:
    """The task `--task` names, else one running task of the stage's service."""
    import boto3

    names = service_names(boto3.client("cloudformation", region_name=config.region), config)
    if args.task:
        return Task(arn=args.task, cluster=names.cluster)
    return find_task(boto3.client("ecs", region_name=config.region), config, names)


if __name__ == "__main__":
    sys.exit(main())
