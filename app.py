#!/usr/bin/env python3
"""CDK entry point. The only place that reads CDK context and environment variables.

The stage's settings come from its committed file, `stages/<stage>.toml` (or `-c stageFile=`),
and context overrides win over it for one run: stage (dev|prod, default dev), imageTag, vpcId,
certificateArn, domainName, hostedZoneId, region, and any setting as `set:<dotted.path>=<value>`
(e.g. -c set:redis.memory_mib=512). A stage file setting still at its placeholder is refused
unless `-c allowPlaceholders=true` (what `make synth`, `make diff` and the other targets that
deploy no service pass; never `make deploy`). See docs/configuration.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk

from infra.config import ConfigError, StageConfig, load_configured_stage, refuse_placeholders

# Context keys that set one setting each (the rest go through `set:<path>`).
_CONTEXT_SETTINGS = (
    ("vpcId", "vpc_id"),
    ("certificateArn", "certificate_arn"),
    ("domainName", "domain_name"),
    ("hostedZoneId", "hosted_zone_id"),
    ("region", "region"),
)
# What the AWS CLI and SDKs in this shell use; the stacks' region comes from the stage settings.
_SHELL_REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


def context_overrides(app: cdk.App) -> dict[str, str]:
    """One-off setting overrides from CDK context, by dotted setting path."""
    ctx = app.node
    overrides: dict[str, str] = {}
    for key, path in _CONTEXT_SETTINGS:
        value = ctx.try_get_context(key)
        if value:
            overrides[path] = str(value)
    # `-c set:redis.memory_mib=512` style overrides of any setting.
    for key, value in ctx.get_all_context().items():
        if key.startswith("set:"):
            overrides[key[4:]] = str(value)
    return overrides


def check_shell_region(config: StageConfig, environ: dict[str, str], source: str) -> None:
    """A shell whose AWS region differs from the stage's would push the image and run the
    documented commands in another region than the stacks: refuse before anything deploys."""
    for name in _SHELL_REGION_VARIABLES:
        value = environ.get(name)
        if value and value != config.region:
            raise ConfigError(
                "region",
                f"{name}={value} in this shell, but the stage deploys to {config.region} "
                f"({source}); the image push and the AWS CLI commands would go to {value}",
                f"export {name}=$(make -s region STAGE={config.stage}) (or unset it), or set "
                f"region in {source}",
            )


def main() -> int:
    # The CLI hands context and the output folder to this App through the environment.
    app = cdk.App()
    ctx = app.node
    stage = str(ctx.try_get_context("stage") or "dev")
    stage_file = ctx.try_get_context("stageFile")
    image_tag = ctx.try_get_context("imageTag")
    overrides = context_overrides(app)
    try:
        config, parsed = load_configured_stage(
            stage,
            image_tag=str(image_tag) if image_tag else None,
            overrides=overrides,
            stage_file=Path(str(stage_file)) if stage_file else None,
        )
        region_source = "-c region" if "region" in overrides else parsed.shown_as
        check_shell_region(config, dict(os.environ), region_source)
        # Fail closed: a plain `cdk deploy` refuses the examples too; only what deploys no
        # service (synth, diff, bootstrap, the registry) says it may synthesize them.
        if str(ctx.try_get_context("allowPlaceholders")).lower() != "true":
            refuse_placeholders(config, parsed)
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
