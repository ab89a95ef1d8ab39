"""The workflow tier (`make test-workflows`): the shipped workflows' steps, run here.

Collected only when FYNTRIX_WORKFLOW_TIER=1 (the make target sets it), so `make test` never
runs it: its ci.yml job runs `make test` itself. And it never starts inside one of its own
runs (every step it runs carries FYNTRIX_INSIDE_WORKFLOW_TIER), whatever the variables say.
"""

from __future__ import annotations

import os

import pytest

from tools.workflows.tier import NESTED_MARK

if os.environ.get("FYNTRIX_WORKFLOW_TIER") != "1" or os.environ.get(NESTED_MARK):
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(NESTED_MARK) and os.environ.get("FYNTRIX_WORKFLOW_TIER") == "1":
        raise pytest.UsageError("the workflow tier does not run inside one of its own runs")
