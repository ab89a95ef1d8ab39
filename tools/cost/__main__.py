"""`python -m tools.cost estimate | pages | prices` (`make cost`, `make docs`, `make prices`).

estimate --stage S [--set PATH=VALUE ...] [--cdk-out DIR] [--markdown]
    Synthesize stage S with the CDK CLI (or read an existing `cdk.out` folder) and print its
    itemized monthly cost with the Render comparison. --set gives a setting to both the synth
    and the estimate (e.g. cost.mau=20000, certificate_arn=arn:...).
pages [--check] [--root DIR]
    Write docs/reference/cost-<stage>.md for every stage; --check writes nothing and exits 1
    with a diff when a committed page is stale.
prices [--regions R ...] [--endpoint URL]
    Refresh tools/cost/prices.json from AWS's public Price List bulk API. Offline, it says so,
    leaves the table untouched and exits 3.

Exit status: 0 done, 1 stale pages, 2 an estimate that cannot be made (the message names the
resource or setting and the fix), 3 price list unreachable.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from infra.config import ConfigError
from tools.cost import pages, refresh
from tools.cost.errors import CostError
from tools.cost.estimate import estimate
from tools.cost.page import markdown
from tools.cost.price_table import load_table
from tools.cost.render_plans import load_blueprint
from tools.cost.report import text
from tools.cost.synth import ROOT, synthesize, with_placeholders
from tools.cost.templates import load_cdk_out


def _pairs(values: list[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        path, sep, setting = value.partition("=")
        if not sep or not path:
            raise CostError(f"{value!r} is not PATH=VALUE. Fix: write e.g. cost.mau=20000")
        pairs[path.strip()] = setting.strip()
    return pairs


def _estimate(args: argparse.Namespace) -> int:
    sets, placeholders = with_placeholders(args.stage, _pairs(args.set))
    config = pages.stage_config(args.stage, sets)
    table = load_table(config.region)
    if args.cdk_out:
        templates = load_cdk_out(args.cdk_out)
    else:
        with tempfile.TemporaryDirectory(prefix=f"fyntrix-cost-{args.stage}.") as tmp:
            synthesize(args.stage, sets, Path(tmp))
            templates = load_cdk_out(Path(tmp))
    result = estimate(templates, config, table, load_blueprint())
    sys.stdout.write(markdown(result) if args.markdown else text(result))
    if placeholders and not args.cdk_out:
        print(
            f"(synthesized with placeholder {', '.join(placeholders)}: no effect on cost)",
            file=sys.stderr,
        )
    return 0


def _pages(args: argparse.Namespace) -> int:
    rendered = pages.render_pages()
    if args.check:
        diffs = pages.check(args.root, rendered)
        if diffs:
            sys.stdout.write("".join(diffs))
            print(f"error: {len(diffs)} cost page(s) are stale: run `make docs`", file=sys.stderr)
            return 1
        print("cost pages are current")
        return 0
    for rel in pages.write(args.root, rendered) or ["(cost pages are current)"]:
        print(f"wrote {rel}" if rel.startswith("docs/") else rel)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    est = commands.add_parser("estimate", help="print a stage's itemized monthly cost")
    est.add_argument("--stage", required=True)
    est.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    est.add_argument("--cdk-out", type=Path, help="read this synth output instead of synthesizing")
    est.add_argument("--markdown", action="store_true", help="print the docs page instead")
    pgs = commands.add_parser("pages", help="write (or --check) docs/reference/cost-<stage>.md")
    pgs.add_argument("--check", action="store_true")
    pgs.add_argument("--root", type=Path, default=ROOT)
    refresh.add_arguments(commands.add_parser("prices", help="refresh prices.json (online)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "estimate":
            return _estimate(args)
        if args.command == "pages":
            return _pages(args)
        return refresh.run(args)
    except (CostError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
