"""Checks of a deployment: through the AWS APIs where the emulator keeps the setting, from the
synthesized template where it does not (moto drops networkMode, load balancers on services,
egress rules, bucket policies and autoscaling). Every check says which source it used.

Each check is registered under its name in its module (tools/rehearsal/checks.py); CHECKS runs
them in order, and `run_one` runs any one alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.config import StageConfig
from tools.rehearsal import (
    verify_access,
    verify_ci,
    verify_edge,
    verify_monitoring,
    verify_release,
    verify_service,
    verify_task,
)
from tools.rehearsal.checks import Check, Deployment, NamedCheck, run_all

__all__ = ["CHECKS", "Check", "format_table", "verify"]

# Every check, in the order the table shows them.
CHECKS: tuple[NamedCheck, ...] = (
    *verify_task.CHECKS,
    *verify_service.CHECKS,
    *verify_access.CHECKS,
    *verify_monitoring.CHECKS,
    *verify_edge.CHECKS,
    *verify_ci.CHECKS,
    *verify_release.CHECKS,
)


def verify(*, config: StageConfig, session: Any, cdk_out: Path) -> list[Check]:
    """All checks for one stage against the emulator (or a real account: same APIs).

    `session` is anything with boto3's `client(name)` (the rehearsal's endpoint-bound session).
    """
    deployment = Deployment(config=config, session=session, cdk_out=cdk_out)
    deployment.require()
    return run_all(CHECKS, deployment)


def format_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"  {'check':<{width}}  source    result  detail"]
    for c in checks:
        lines.append(
            f"  {c.name:<{width}}  {c.source:<8}  {'PASS' if c.ok else 'FAIL':<6}  {c.detail}"
        )
    passed = sum(c.ok for c in checks)
    lines.append(f"  {passed} passed, {len(checks) - passed} failed")
    return "\n".join(lines)
