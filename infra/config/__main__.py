"""`python -m infra.config registry | state STAGE | service STAGE | ci | dashboard-url STAGE`.

Prints a CDK stack's name for the Makefile (`deploy-registry`, `deploy-state`, `destroy`), so
no stack name is spelled twice, or a stage's dashboard link (`make dashboard-url`), computed
from the config alone: region and dashboard name, no AWS call.
"""

from __future__ import annotations

import sys

from infra.config.errors import ConfigError
from infra.config.names import (
    CI_STACK_NAME,
    REGISTRY_STACK_NAME,
    STAGES,
    service_stack_name,
    state_stack_name,
)
from infra.config.stages import load_stage


def _dashboard_url(stage: str, pairs: list[str]) -> int:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            print(f"error: {pair!r} is not SETTING=VALUE (e.g. region=eu-west-1)", file=sys.stderr)
            return 2
        overrides[key] = value
    try:
        # Any image tag will do: the link does not depend on it, and prod refuses `latest`.
        config = load_stage(stage, image_tag="dashboard", overrides=overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(config.dashboard_url)
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
    if len(argv) >= 2 and argv[0] == "dashboard-url":  # load_stage names a wrong stage
        return _dashboard_url(argv[1], argv[2:])
    choices = "|".join(STAGES)
    print(
        f"usage: python -m infra.config registry | state {{{choices}}} | "
        f"service {{{choices}}} | ci | dashboard-url {{{choices}}} [SETTING=VALUE ...]",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
