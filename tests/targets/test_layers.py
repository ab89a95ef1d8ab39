"""The layers stay apart: writing deploy files and docs never starts jsii or Node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: this test session has long imported aws_cdk for its synths.
_PROBE = """
import sys, tempfile, pathlib
import generators
from generators import render_all, default_configs
files = render_all(default_configs())
assert files, "nothing rendered"
import generators.docs
pages = generators.docs.render_pages()
assert len(pages) == 5 and all(pages.values()), "no reference page rendered"
print(len(files), "aws_cdk" in sys.modules, "jsii" in sys.modules)
"""


def test_generators_import_and_render_without_aws_cdk() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert int(out[0]) >= 5
    assert out[1:] == ["False", "False"], "a generator imported aws_cdk or jsii"
