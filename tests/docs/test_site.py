"""The documentation site builds strictly and offline, and covers every page."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
# `python -m`, not the venv's `mkdocs` script: a script's shebang names the path pip ran from,
# which breaks when the venv was installed through another worktree's symlink.
MKDOCS = [sys.executable, "-m", "mkdocs"]
REFERENCE_PAGES = ("settings.md", "security-acknowledgments.md", "targets.md")


class _Loader(yaml.SafeLoader):
    """mkdocs.yml names a Python function with `!!python/name:`; keep it as text."""


_Loader.add_multi_constructor(
    "tag:yaml.org,2002:python/name:", lambda _loader, suffix, _node: suffix
)


def mkdocs_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)
    return config


def nav_pages(nav: list[Any]) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_strict_build_passes_and_fetches_nothing_from_the_web(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [*MKDOCS, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    html = "".join(p.read_text() for p in site.rglob("*.html"))
    assert "fonts.googleapis.com" not in html, "web fonts: keep theme.font false"
    assert (site / "reference" / "settings" / "index.html").is_file()


def test_nav_covers_every_page_and_the_reference_pages() -> None:
    pages = nav_pages(mkdocs_config()["nav"])
    on_disk = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(pages) == on_disk
    assert {f"reference/{name}" for name in REFERENCE_PAGES} <= set(pages)


def test_offline_theme_and_no_downloading_plugins() -> None:
    config = mkdocs_config()
    assert config["theme"]["font"] is False
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in config.get("plugins", [])]
    assert set(plugins) <= {"search"}, plugins


def test_site_folder_is_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "site/" in ignored
