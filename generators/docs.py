"""Generated README sections (config reference, security exceptions), so they cannot go stale.

`python -m generators.docs` rewrites the marked blocks in README.md; a test fails when the README
differs from what this writes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.config import load_stage, setting_paths
from infra.nag_reasons import REASONS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "(none)"
    if hasattr(value, "items"):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if value is None:
        return "(unset)"
    return str(value)


# What each setting means; a test requires an entry for every setting.
DESCRIPTIONS: dict[str, str] = {
    "stage": "stage name; `-c stage=dev|prod`; non-prod names get a `-<stage>` suffix",
    "region": "AWS region of both stacks; `-c region=` or CDK_DEFAULT_REGION",
    "task_cpu": "Fargate task CPU units (256, 512, 1024, ...)",
    "task_memory_mib": "Fargate task memory; must be a valid pair with task_cpu",
    "app.port": "port the app listens on and the load balancer targets",
    "app.memory_mib": "app container hard memory limit",
    "app.image_tag": "app image tag in the registry; `-c imageTag=`; never `latest` in prod",
    "app.redis_db": "Redis database index the app uses (REDIS_DB)",
    "app.user": "numeric uid:gid the app runs as (non-root)",
    "app.health_check_path": "path the container and load-balancer health checks probe",
    "app.health_check.interval_s": "container health check interval (5-300 s)",
    "app.health_check.timeout_s": "container health check timeout (2-120 s, < interval)",
    "app.health_check.retries": "failures before the container is UNHEALTHY (1-10)",
    "app.health_check.start_period_s": "failures ignored while the app starts (0-300 s)",
    "app.secret_keys": "keys of the stage secret injected as env vars via ECS `secrets`",
    "app.cache_ttl_s": "per-namespace cache TTLs (seconds), passed as CACHE_TTL_<NS>_S",
    "redis.image": "Redis sidecar image (public ECR mirror: no Docker Hub rate limit)",
    "redis.port": "Redis port on the task's loopback",
    "redis.memory_mib": "redis container hard memory limit",
    "redis.maxmemory_mib": "Redis `maxmemory`; unset = 75 % of memory_mib; must stay < 80 %",
    "redis.maxmemory_policy": "eviction policy (`noeviction` is rejected: this is a cache)",
    "redis.start_timeout_s": "how long ECS waits for redis to be HEALTHY (10-120 s)",
    "redis.health_check.interval_s": "redis health check interval (5-300 s)",
    "redis.health_check.timeout_s": "redis health check timeout (2-120 s, < interval)",
    "redis.health_check.retries": "failures before redis is UNHEALTHY (1-10)",
    "redis.health_check.start_period_s": "failures ignored while redis starts (0-300 s)",
    "scaling.desired_count": "tasks at first deploy",
    "scaling.min_capacity": "autoscaling lower bound (>= 1)",
    "scaling.max_capacity": "autoscaling upper bound; each task brings its own Redis",
    "scaling.cpu_target_percent": "target-tracking CPU utilisation",
    "scaling.memory_target_percent": "target-tracking memory utilisation",
    "vpc_id": "existing VPC to use instead of creating one; `-c vpcId=` (needs an account)",
    "max_azs": "availability zones of the new VPC (2-3)",
    "nat_gateways": "NAT gateways of the new VPC (1 = cheaper, one per AZ = resilient)",
    "allowed_ingress_cidrs": "CIDRs allowed to reach the load balancer (comma-separated)",
    "certificate_arn": "ACM certificate: adds HTTPS on 443 and redirects 80; `-c certificateArn=`",
    "log_retention_days": "CloudWatch Logs retention of every log group (days)",
    "container_insights": "ECS Container Insights on the cluster",
    "enable_exec": "ECS Exec on the service (audited, KMS-encrypted)",
    "health_check_grace_margin_s": "margin added to redis + app start for the LB grace period",
    "deletion_protection": "load balancer deletion protection",
    "repository_name": "ECR repository name (shared by all stages)",
    "image_retention_count": "images the repository lifecycle rule keeps (shared)",
}


def config_table() -> str:
    prod = {p: v for p, _, v in setting_paths(load_stage("prod", image_tag="GIT_SHA"))}
    rows = [
        "| setting | type | dev | prod | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, type_name, dev_value in setting_paths():
        rows.append(
            f"| `{path}` | {type_name.replace('|', 'or')} | {_fmt(dev_value)} "
            f"| {_fmt(prod[path])} | {DESCRIPTIONS.get(path, '')} |"
        )
    return "\n".join(rows)


def security_exceptions() -> str:
    import yaml

    rows = [
        "| gate | finding | where | reason |",
        "| --- | --- | --- | --- |",
    ]
    for rule, reason in REASONS.items():
        pack = "cdk-nag (NIST 800-53 R5)" if rule.startswith("NIST") else "cdk-nag (AwsSolutions)"
        rows.append(
            f"| {pack} | `{rule}` | the construct it concerns (`infra/nag.py`) "
            f"| {reason.replace('|', '/')} |"
        )
    tools = yaml.safe_load((ROOT / "security" / "exceptions.yaml").read_text())
    for tool, entries in tools.items():
        for check, entry in (entries or {}).items():
            where = ", ".join(f"`{r}`" for r in entry["resources"])
            rows.append(f"| {tool} | `{check}` | {where} | {entry['reason'].replace('|', '/')} |")
    return "\n".join(rows)


BLOCKS: dict[str, Callable[[], str]] = {
    "config-reference": config_table,
    "security-exceptions": security_exceptions,
}


def _replacer(body: str) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        return m.group(1) + body + "\n" + m.group(2)

    return replace


def render(text: str) -> str:
    for name, fn in BLOCKS.items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED: {name} -->\n)(?:.*?\n)?(<!-- END GENERATED: {name} -->)",
            re.S,
        )
        if not pattern.search(text):
            raise SystemExit(f"README.md lacks the markers for the generated block {name!r}")
        text = pattern.sub(_replacer(fn()), text)
    return text


def main() -> int:
    text = README.read_text()
    new = render(text)
    if new != text:
        README.write_text(new)
        print("README.md: generated sections updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
