"""`python -m infra.config registry | service STAGE`: print a CDK stack's name (the Makefile's
`deploy-registry` and `destroy` use it, so no stack name is spelled twice)."""

from __future__ import annotations

import sys

from infra.config.names import REGISTRY_STACK_NAME, STAGES, service_stack_name


def main(argv: list[str]) -> int:
    if argv == ["registry"]:
        print(REGISTRY_STACK_NAME)
        return 0
    if len(argv) == 2 and argv[0] == "service" and argv[1] in STAGES:
        print(service_stack_name(argv[1]))
        return 0
    choices = "|".join(STAGES)
    print(f"usage: python -m infra.config registry | service {{{choices}}}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
