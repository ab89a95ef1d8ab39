"""`python -m infra.config registry | state|service STAGE | ci | dashboard-url|region STAGE`.

Prints a CDK stack's name for the Makefile (`deploy-registry`, `deploy-state`, `destroy`), so
no stack name is spelled twice, or, from the stage as it deploys (its stage file, then one-off
SETTING=VALUE overrides), the stage's dashboard link (`make dashboard-url`) or its AWS region
(`make region`, which the docs' commands export as AWS_REGION). No AWS call.

    python -m infra.config region prod [--stage-file PATH] [SETTING=VALUE ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from infra.config.errors import ConfigError
from infra.config.names import (
    CI_STACK_NAME,
    REGISTRY_STACK_NAME,
    STAGES,
    service_stack_name,
    state_stack_name,
)
from infra.config.stages import load_configured_stage

# Any image tag will do for a name or a link: none depends on it, and prod refuses `latest`.
_NAMES_ONLY_IMAGE_TAG = "names-only"


def _stage_value(command: str, stage: str, args: list[str]) -> int:
    stage_file: Path | None = None
    overrides = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--stage-file" and rest:
            stage_file = Path(rest.pop(0))
            continue
        key, sep, value = arg.partition("=")
        if not sep:
            print(f"error: {arg!r} is not SETTING=VALUE (e.g. region=eu-west-1)", file=sys.stderr)
            return 2
        overrides[key] = value
    try:
        config, _ = load_configured_stage(
            stage, image_tag=_NAMES_ONLY_IMAGE_TAG, overrides=overrides, stage_file=stage_file
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(config.dashboard_url if command == "dashboard-url" else config.region)
    return 0


def main(argv: list[str]) -> int:
    if argv == ["registry"]:
        print(REGISTRY_STACK_NAME)
        return 0
    if argv == ["ci"]:
        print(CI_STACK_NAME)
        return 0
    stacks = {"service": service_stack_name, "state": state_stack_name}
    if len(argv) == 2 and argv[0] in stacks and argv[1] in STAGES:
        print(stacks[argv[0]](argv[1]))
        return 0
    if len(argv) >= 2 and argv[0] in ("dashboard-url", "region"):  # load_stage names a bad stage
        return _stage_value(argv[0], argv[1], argv[2:])
    choices = "|".join(STAGES)
    print(
        f"usage: python -m infra.config registry | state {{{choices}}} | "
        f"service {{{choices}}} | ci | "
        f"dashboard-url|region {{{choices}}} [--stage-file PATH] [SETTING=VALUE ...]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
