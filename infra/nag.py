"""cdk-nag wiring and every acknowledgment's reason, in one place.

Each acknowledgment is applied at the narrowest construct that raises the finding (see the
constructs), but its reason lives here so auditors read one list, and the README's Security
section and a test are generated from / checked against it.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, NagPack
from constructs import IConstruct

# rule id -> reason an auditor would accept. Keep reasons specific to this design.
REASONS: Final[dict[str, str]] = {
    "AwsSolutions-ECS2": (
        "The app container's plain environment holds only non-secret wiring (REDIS_HOST="
        "localhost, ports, DB index, cache TTLs, expected Redis settings). Every credential "
        "(DATABASE_URL, AWS_COGNITO_*, API keys) is injected from Secrets Manager via `secrets`."
    ),
    "AwsSolutions-IAM5[Resource::*]": (
        "ECS Exec's ssmmessages:Create*/Open* channels and logs:DescribeLogGroups, and the "
        "image pull's ecr:GetAuthorizationToken, have no resource-level permissions in IAM; AWS "
        "documents `*` as the only valid resource. Every other statement is scoped."
    ),
    "AwsSolutions-IAM5[log-streams]": (
        "ECS Exec writes session transcripts as new log streams of exactly one log group (the "
        "cluster's encrypted exec audit log group); stream names are chosen per session, so "
        "`log-group:<that group>:*` is the narrowest resource IAM can express."
    ),
    "AwsSolutions-EC23": (
        "The Application Load Balancer is the public entry point of the web API; its security "
        "group admits only the configured CIDRs (`allowed_ingress_cidrs`) on 80/443, and tasks "
        "accept traffic only from the load balancer's group."
    ),
    "AwsSolutions-S1": (
        "This bucket is the destination of the load balancer's access logs; logging its own "
        "access to itself would recurse, and a second bucket would need a third. S3 data events "
        "belong in the account's CloudTrail."
    ),
    "AwsSolutions-SMG4": (
        "The secret holds externally issued credentials (database URL, Cognito app client, "
        "market-data API key) that their issuers rotate; no rotation Lambda can rotate them. "
        "Rotate by updating the secret and forcing a new deployment."
    ),
}


def add_nag_packs(app: App) -> list[NagPack]:
    """Register the packs on the App so every `app.synth()` (and `cdk synth`) runs them and
    fails on any unacknowledged finding."""
    packs: list[NagPack] = [AwsSolutionsChecks(app)]
    Validations.of(app).add_plugins(*packs)
    return packs


def acknowledge(scope: IConstruct, *rule_ids: str, finding: str | None = None) -> None:
    """Acknowledge findings on `scope` with the reasons above.

    `finding` narrows a reason key like `AwsSolutions-IAM5[log-streams]` to the exact finding
    cdk-nag reports (`AwsSolutions-IAM5[Resource::arn:...:*]`), so one reason can cover a
    resource whose logical id is only known at synth.
    """
    acks = []
    for key in rule_ids:
        rule = key.split("[", 1)[0]
        ack_id = f"{rule}[{finding}]" if finding else key
        acks.append(Acknowledgment(id=ack_id, reason=REASONS[key]))
    Validations.of(scope).acknowledge(*acks)
