"""Shared fixtures for every test folder (real servers: see testkit/)."""

import os
from pathlib import Path

# The synth tests start jsii: it must run on the venv's supported Node, as `make` arranges.
# Set once here, before any test module imports aws_cdk, so direct pytest runs match `make test`.
_VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
os.environ["PATH"] = f"{_VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

pytest_plugins = ["testkit.servers", "testkit.service"]
