#!/usr/bin/env python3
"""CDK entry point. The only place that reads CDK context and environment variables.

Context keys: stage (dev|prod, default dev), imageTag, vpcId, certificateArn, domainName,
hostedZoneId, and any setting as `set:<dotted.path>=<value>` (e.g.
-c set:redis.memory_mib=512). See docs/configuration.md.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from infra.config import ConfigError, load_stage


def main() -> int:
    # The CLI hands context and the output folder to this App through the environment.
    app = cdk.App()
    ctx = app.node
    stage = str(ctx.try_get_context("stage") or "dev")
    overrides: dict[str, str] = {}
    for key, path in (
        ("vpcId", "vpc_id"),
        ("certificateArn", "certificate_arn"),
        ("domainName", "domain_name"),
        ("hostedZoneId", "hosted_zone_id"),
        ("region", "region"),
    ):
        value = ctx.try_get_context(key)
        if value:
            overrides[path] = str(value)
    # `-c set:redis.memory_mib=512` style overrides of any setting.
    for key, value in ctx.get_all_context().items():
        if key.startswith("set:"):
            overrides[key[4:]] = str(value)
    if "region" not in overrides and os.environ.get("CDK_DEFAULT_REGION"):
        overrides["region"] = os.environ["CDK_DEFAULT_REGION"]
    image_tag = ctx.try_get_context("imageTag")
    try:
        config = load_stage(
            stage, image_tag=str(image_tag) if image_tag else None, overrides=overrides
        )
        account = os.environ.get("CDK_DEFAULT_ACCOUNT") if config.vpc_id else None
        # A config error is reported before the stacks, constructs and nag packs are imported
        # (about a second of jsii loading that a refused config does not need).
        config.check_deployable()
        from infra.app_factory import build_app

        build_app(config, account=account, app=app)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
