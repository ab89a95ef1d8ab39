"""`make up RECREATE=1`: destroy the stage's service stack and deploy it again, on the same
emulator, the way a team re-creates a stage after `make destroy`.

What it proves: the service stack deletes cleanly (moto's gaps in deleting are filled in
tools/rehearsal/emulator_deletes.py), nothing the stage retains or keeps blocks creating it
again (retained names end in the stack's id; the app secret is in the state stack, which
`make destroy` keeps), and the values an operator put into the app secret are still there.
What the emulator cannot prove (it does not refuse every namesake that AWS refuses) the
template walk in tests/infra/test_stage_life.py covers.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from infra.config import StageConfig
from tools.rehearsal.verify import Check
from tools.stack_outputs import DeployedNames, StackNotDeployed, stack_outputs

# The key an "operator" sets before the destroy; any key works (the service ignores unknown
# ones), this one is a real setting so the running service reads it like any other.
OPERATOR_KEY = "MARKET_DATA_API_KEY"


def _check(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name=name, source="api", ok=True, detail=fn())
    except Exception as exc:  # every failure becomes a FAIL row, like verify's
        return Check(name=name, source="api", ok=False, detail=(str(exc) or repr(exc))[:300])


def set_operator_value(session: Any, config: StageConfig) -> dict[str, str]:
    """What an operator does after a deploy: add a value to the app secret, keeping the rest.
    Returns the secret's whole value afterwards."""
    sm = session.client("secretsmanager")
    arn = DeployedNames.of(session, config).secret_arn
    value = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    value[OPERATOR_KEY] = f"rehearsal-{secrets.token_hex(8)}"
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps(value, sort_keys=True))
    return {str(k): str(v) for k, v in value.items()}


def destroy_and_redeploy(
    *,
    config: StageConfig,
    session: Any,
    destroy: Callable[[], None],
    deploy: Callable[[], None],
) -> list[Check]:
    """Set an operator's value, `destroy` the service stack, `deploy` again; the checks of
    each step (the caller verifies the new deployment in full afterwards)."""
    cfn = session.client("cloudformation")
    before = set_operator_value(session, config)
    state_before = stack_outputs(cfn, config.state_stack_name)
    first = DeployedNames.of(session, config)
    destroy()

    def service_gone() -> str:
        try:
            stack_outputs(cfn, config.service_stack_name)
        except StackNotDeployed:
            return f"{config.service_stack_name} deleted (cdk destroy)"
        raise AssertionError(f"{config.service_stack_name} still exists")

    def state_kept() -> str:
        after = stack_outputs(cfn, config.state_stack_name)
        if after.get("SecretArn") != state_before.get("SecretArn"):
            raise AssertionError(f"secret {state_before.get('SecretArn')} replaced or gone")
        return f"{config.state_stack_name} and {after['SecretName']} untouched"

    checks = [_check("recreate: service stack deleted", service_gone)]
    checks.append(_check("recreate: state stack kept", state_kept))
    deploy()

    def values_kept() -> str:
        sm = session.client("secretsmanager")
        arn = DeployedNames.of(session, config).secret_arn
        now = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
        if now != before:
            raise AssertionError(f"the secret's keys are now {sorted(now)}, were {sorted(before)}")
        return f"{len(now)} operator-set key(s) unchanged, e.g. {OPERATOR_KEY}"

    checks.append(_check("recreate: service stack created again", lambda: _created(cfn, config)))
    checks.append(_check("recreate: operator's secret values kept", values_kept))
    checks.append(
        _check(
            "recreate: retained names did not collide", lambda: _retained(session, config, first)
        )
    )
    return checks


def _retained(session: Any, config: StageConfig, first: DeployedNames) -> str:
    """The WAF log group of the first incarnation: kept where the stage retains on delete
    (prod), deleted otherwise; either way the new one has a name of its own."""
    old = first.waf_log_group
    new = DeployedNames.of(session, config).waf_log_group
    if old is None or new is None:
        return "no WAF on this stage: nothing retained by name"
    logs = session.client("logs")
    found = {
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=old)["logGroups"]
    }
    if new == old:
        raise AssertionError(f"the new WAF log group reuses the name {old}")
    if config.retain_on_delete != (old in found):
        raise AssertionError(
            f"{old}: retained={old in found}, retain_on_delete={config.retain_on_delete}"
        )
    kept = "kept (retained)" if old in found else "deleted with its stack"
    return f"WAF log group {old} {kept}; the new stack's is {new}"


def _created(cfn: Any, config: StageConfig) -> str:
    stack = cfn.describe_stacks(StackName=config.service_stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise AssertionError(f"{config.service_stack_name}: {stack['StackStatus']}")
    return f"{config.service_stack_name} CREATE_COMPLETE on the same emulator"
