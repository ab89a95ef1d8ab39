"""`python -m generators [--check] [--root DIR]` (`make targets`).

render.yaml is validated against Render's schema as `make setup` cached it (.cache/schemas/).

Exit status: 0 written or current, 1 stale files (`--check`; the diff is on stdout),
2 invalid config (the message names the setting and the fix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generators.generate import REPO_ROOT, check, write_all
from infra.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 with a diff if stale"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    args = parser.parse_args(argv)
    try:
        if args.check:
            diffs = check(args.root)
            if diffs:
                sys.stdout.write("".join(diffs))
                print(
                    f"error: {len(diffs)} generated file(s) are stale: run `make targets`",
                    file=sys.stderr,
                )
                return 1
            print("deploy targets are current")
            return 0
        changed = write_all(args.root)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for rel in changed:
        print(f"wrote {rel}")
    if not changed:
        print("deploy targets are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
