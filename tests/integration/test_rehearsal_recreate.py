"""`make up RECREATE=1`: deploy, `cdk destroy` the service stack, deploy it again on the same
emulator, for dev and prod (tools/rehearsal/recreate.py). What the emulator cannot refuse the
template walk in tests/infra/test_stage_life.py covers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.config import load_stage
from tests.integration.test_rehearsal import (
    assert_all_checks_pass,
    rehearsal,
    rehearsal_environment,
    stop_everything,
    verify_checks,
)

pytestmark = [pytest.mark.integration]

RECREATE_CHECKS = (
    "recreate: service stack deleted",
    "recreate: state stack kept",
    "recreate: service stack created again",
    "recreate: operator's secret values kept",
    "recreate: retained names did not collide",
)


@pytest.fixture
def rehearsal_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = rehearsal_environment(tmp_path)
    yield env
    stop_everything(env)


def _log_groups(run_dir: Path, prefix: str) -> list[str]:
    import boto3

    endpoint = json.loads((run_dir / "state.json").read_text())["endpoint"]
    logs = boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return sorted(
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    )


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_destroy_then_deploy_again(rehearsal_env: dict[str, str], stage: str) -> None:
    # GIVEN a stage deployed and verified, and an operator's value in its app secret
    # WHEN its service stack is destroyed (`make destroy`) and deployed again
    env = {**rehearsal_env, "STAGE": stage}
    result = rehearsal("up", env, "--recreate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    run_dir = Path(env["RUN_DIR"])
    # THEN every check passes on the new deployment, and the re-creation's own checks too
    assert_all_checks_pass(run_dir, result.stdout)
    checks: dict[str, dict[str, Any]] = {c["name"]: c for c in verify_checks(run_dir)}
    assert set(RECREATE_CHECKS) <= set(checks)
    assert f"cdk destroy Fyntrix-Service-{stage}: deleted" in result.stdout
    assert f"Fyntrix-Service-{stage} created again" in result.stdout
    # AND the task reads the state stack's secret, whose operator values survived
    assert "MARKET_DATA_API_KEY" in checks["recreate: operator's secret values kept"]["detail"]
    # AND in prod the first stack's retained WAF log group still exists beside the new one
    config = load_stage(stage, image_tag="rehearsal")
    groups = _log_groups(run_dir, f"{config.waf_log_group_prefix}-")
    assert len(groups) == (2 if config.retain_on_delete else 1), groups
    # AND the service started on the new stack answers as before
    assert "X-Cache: MISS, then HIT" in result.stdout
