"""`python -m tools.cost pages [--check]`: docs/reference/cost-<stage>.md for every stage.

Each stage is synthesized by the CDK CLI with its defaults (and the placeholders of
tools/cost/synth.py), estimated, and rendered; `--check` writes nothing and reports a stale
page as a diff, like `python -m generators.docs --check`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from generators.generate import stale_diffs, write_files
from infra.config import STAGES, StageConfig, load_stage
from tools.cost.estimate import estimate
from tools.cost.page import markdown
from tools.cost.price_table import load_table
from tools.cost.render_plans import load_blueprint
from tools.cost.synth import synthesize, with_placeholders
from tools.cost.templates import Templates, load_cdk_out


def page_path(stage: str) -> str:
    return f"docs/reference/cost-{stage}.md"


PAGES: Final = tuple(page_path(stage) for stage in STAGES)


def stage_config(stage: str, sets: Mapping[str, str]) -> StageConfig:
    """The config the estimate reads, built from the same settings the synth was given."""
    overrides = dict(sets)
    image_tag = overrides.pop("app.image_tag", None)
    return load_stage(stage, image_tag=image_tag, overrides=overrides)


def page_text(templates: Templates, config: StageConfig) -> str:
    table = load_table(config.region)
    return markdown(estimate(templates, config, table, load_blueprint()))


def synth_templates(stage: str, sets: Mapping[str, str]) -> Templates:
    with tempfile.TemporaryDirectory(prefix=f"fyntrix-cost-{stage}.") as tmp:
        synthesize(stage, sets, Path(tmp))
        return load_cdk_out(Path(tmp))


def render_pages(
    synth: Callable[[str, Mapping[str, str]], Templates] = synth_templates,
) -> dict[str, str]:
    pages = {}
    for stage in STAGES:
        sets, _ = with_placeholders(stage, {})
        pages[page_path(stage)] = page_text(synth(stage, sets), stage_config(stage, sets))
    return pages


def check(root: Path, pages: Mapping[str, str]) -> list[str]:
    return stale_diffs(root, dict(pages))


def write(root: Path, pages: Mapping[str, str]) -> list[str]:
    return write_files(root, dict(pages))
