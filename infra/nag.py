"""cdk-nag wiring and every acknowledgment's reason, in one place.

Each acknowledgment is applied at the narrowest construct that raises the finding (see the
constructs), but its reason lives here so auditors read one list, and the reference page
docs/reference/security-acknowledgments.md and a test are generated from / checked against it.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks, NagPack, NIST80053R5Checks
from constructs import IConstruct

from infra.nag_reasons import REASONS


def add_nag_packs(app: App) -> list[NagPack]:
    """Register the packs on the App so every `app.synth()` (and `cdk synth`) runs them and
    fails on any unacknowledged finding."""
    packs: list[NagPack] = [AwsSolutionsChecks(app), NIST80053R5Checks(app)]
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
        # `rule#label` names a second reason for the same rule in another place.
        rule = key.split("#", 1)[0].split("[", 1)[0]
        ack_id = f"{rule}[{finding}]" if finding else key.split("#", 1)[0]
        acks.append(Acknowledgment(id=ack_id, reason=REASONS[key]))
    Validations.of(scope).acknowledge(*acks)
