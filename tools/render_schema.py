"""`python -m tools.render_schema` (run by `make setup`): fetch Render's Blueprint JSON Schema
into the repository's cache and check it against the pins (generators/render_schema.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generators import render_schema
from generators.render_schema import REPO_ROOT, SCHEMA_URL, SchemaError, ensure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render_schema", description=render_schema.__doc__
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    parser.add_argument("--url", default=SCHEMA_URL, help="where Render publishes the schema")
    args = parser.parse_args(argv)
    try:
        got = ensure(args.root, url=args.url)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for reason in got.passed_over:
        print(f"render schema: passed over: {reason}", file=sys.stderr)
    if got.origin != "cache":
        print(f"render schema: {got.path} from {got.origin} (sha256 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
