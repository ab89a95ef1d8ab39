"""A deployed stack's outputs: where tools find the names CloudFormation generates (the ECS
cluster and service, the secret's and the WAF log group's stack-id endings;
docs/reference/names.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.config import StageConfig


class StackNotDeployed(LookupError):
    """The stack does not exist (in this account and region), or lacks an expected output."""


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """`{OutputKey: OutputValue}` of a deployed stack; StackNotDeployed when there is none.
    Other API errors (credentials, throttling) propagate as they are."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" not in str(exc):
            raise
        raise StackNotDeployed(f"stack {stack_name} does not exist") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


@dataclass(frozen=True)
class DeployedNames:
    """The names of one stage's deployed resources that are not fixed in the config."""

    cluster: str
    service: str
    secret_arn: str
    waf_log_group: str | None  # None: the stage runs without WAF (dev only)

    @classmethod
    def of(cls, session: Any, config: StageConfig) -> DeployedNames:
        """From the service and state stacks' outputs (`session`: anything with boto3's
        `client(name)`)."""
        cfn = session.client("cloudformation")
        service = stack_outputs(cfn, config.service_stack_name)
        state = stack_outputs(cfn, config.state_stack_name)
        try:
            return cls(
                cluster=service["ClusterName"],
                service=service["ServiceName"],
                secret_arn=state["SecretArn"],
                waf_log_group=service.get("WafLogGroupName"),
            )
        except KeyError as exc:
            raise StackNotDeployed(f"output {exc} is missing: deploy the stage again") from exc
