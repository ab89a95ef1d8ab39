"""What the docs tier looks at inside a stage's session, at a point of the guide.

    python -m testkit.docs_run.checks task-start --stage dev

`task-start`: the app container of the deployed task definition starts with its settings: its
environment as deployed, plus APP_SECRETS as ECS passes it (the state stack's secret, whole).
The check is the service's own settings validation, in a new interpreter with nothing else in
its environment, which is what makes `python -m service` exit 2 at start; a secret value
copied from an example (`'{...}'`, `"AWS_COGNITO_USER_POOL_ID":"..."`) fails it. The emulator
runs no task, so the tier looks at this instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import boto3

from infra.config import service_stack_name, state_stack_name
from tools.stack_outputs import stack_outputs

_VALIDATE = """
import sys
from pydantic import ValidationError
from service.settings import Settings, format_errors
try:
    Settings()
except ValidationError as exc:
    print("\\n".join(format_errors(exc)), file=sys.stderr)
    sys.exit(2)
"""


def task_environment(stage: str) -> dict[str, str]:
    """The deployed app container's environment, APP_SECRETS included as ECS resolves it."""
    region = os.environ.get("AWS_REGION")
    if not region:
        raise SystemExit("AWS_REGION is not exported: the guide exports the stage's region")
    session = boto3.session.Session(region_name=region)
    cloudformation = session.client("cloudformation")
    service = stack_outputs(cloudformation, service_stack_name(stage))
    secret_arn = stack_outputs(cloudformation, state_stack_name(stage))["SecretArn"]
    ecs = session.client("ecs")
    (described,) = ecs.describe_services(
        cluster=service["ClusterName"], services=[service["ServiceName"]]
    )["services"]
    task = ecs.describe_task_definition(taskDefinition=described["taskDefinition"])
    (app,) = [c for c in task["taskDefinition"]["containerDefinitions"] if c["name"] == "app"]
    env = {e["name"]: e["value"] for e in app.get("environment", [])}
    secrets = session.client("secretsmanager")
    for entry in app.get("secrets", []):
        arn = entry["valueFrom"]
        if not arn.startswith(secret_arn):
            raise SystemExit(f"{entry['name']} comes from {arn}, not the state stack's secret")
        env[entry["name"]] = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    return env


def validate(env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The service's start-up validation of `env` (exit 2 and its messages when it refuses),
    with the service code of `cwd`, in a new interpreter with nothing else in its environment."""
    return subprocess.run(
        [sys.executable, "-c", _VALIDATE],
        cwd=cwd,
        env={"PATH": os.defpath, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def task_start(stage: str) -> int:
    env = task_environment(stage)
    # From the session's folder (the clone): its service code validates, as its image would.
    done = validate(env, Path.cwd())
    if done.returncode != 0:
        print(f"the {stage} app would exit {done.returncode} at start:", file=sys.stderr)
        print(done.stderr.strip(), file=sys.stderr)
        return done.returncode
    names = sorted(json.loads(env.get("APP_SECRETS") or "{}"))
    print(f"[docs-run] the {stage} task's settings validate; its secret holds {names}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testkit.docs_run.checks")
    parser.add_argument("check", choices=["task-start"])
    parser.add_argument("--stage", required=True)
    args = parser.parse_args(argv)
    return task_start(args.stage)


if __name__ == "__main__":
    sys.exit(main())
