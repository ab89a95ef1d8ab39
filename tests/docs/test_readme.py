"""The README stays a five-minute read that starts with `make up` and `make test`, and every
path and link in it points at something that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 200

# A fence's language, also in the attribute form (```{.bash data-run="dev"}, docs/deploy.md).
_FENCE = re.compile(r"^```(?:\{\.)?(\w*)[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def readme() -> str:
    return README.read_text()


def commands(text: str) -> list[str]:
    """Shell commands of the ```bash blocks, in order, without comments."""
    found = []
    for lang, body in _FENCE.findall(text):
        if lang not in ("bash", "sh"):
            continue
        for line in body.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                found.append(command)
    return found


def anchors(page: Path) -> set[str]:
    """Heading ids as mkdocs (Python-Markdown's toc) makes them, code blocks left out."""
    prose = _FENCE.sub("", page.read_text())
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", prose, re.MULTILINE)
    return {slugify(h, "-") for h in headings}


def test_the_first_two_commands_are_make_up_then_make_test() -> None:
    assert commands(readme())[:2] == ["make up", "make test"]


def test_commands_helper_skips_comments_and_other_languages() -> None:
    text = "```text\nmake nope\n```\n\n```bash\n# setup\nmake a   # why\nmake b\n```\n"
    assert commands(text) == ["make a", "make b"]


def test_readme_is_at_most_200_lines() -> None:
    lines = len(readme().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move prose to docs/"


@pytest.mark.parametrize(
    "page",
    [README, *sorted(p for p in DOCS.glob("*.md"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_hand_written_pages_have_no_generated_regions(page: Path) -> None:
    # Generated tables are whole files under docs/reference/, never regions inside prose.
    assert "<!--" not in page.read_text(), f"{page.name}: remove the marker or comment"


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for target in _LINK.findall(readme()):
        if re.match(r"^[a-z]+:", target):
            continue  # an external URL: the site build does not fetch them either
        path, _, anchor = target.partition("#")
        file = ROOT / path
        if not file.exists() or (anchor and anchor not in anchors(file)):
            broken.append(target)
    assert not broken, f"README.md links to what does not exist: {broken}"


def test_the_anchor_helper_matches_mkdocs_ids() -> None:
    page = DOCS / "deploy.md"
    assert "local-rehearsal-make-up" in anchors(page)
    assert "deploy-to-aws" in anchors(page)


def test_every_path_in_the_map_exists() -> None:
    text = readme()
    block = text.split("## Where things live", 1)[1]
    body = _FENCE.search(block)
    assert body is not None, "the map is a fenced block under 'Where things live'"
    missing = []
    parent = ROOT
    for line in body.group(2).splitlines():
        if not line.strip() or line.startswith(" " * 6):
            continue  # a continuation of the previous entry's description
        nested = line.startswith("  ")
        names = line.strip().split("  ", 1)[0]
        for name in (n.strip() for n in names.split(",")):
            base = parent if nested else ROOT
            path = base / name.rstrip("/")
            # `infra/config` is a module or a package: either counts.
            if not (path.exists() or path.with_suffix(".py").exists()):
                missing.append(str(path.relative_to(ROOT)))
            if not nested:
                parent = path
    assert not missing, f"the README's map names paths that do not exist: {missing}"
