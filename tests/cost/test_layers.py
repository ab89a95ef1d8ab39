"""The estimator reads templates: it never imports the CDK (synthesizing is the CLI's job)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: this test session may have imported aws_cdk for its synths.
_PROBE = """
import sys
import tools.cost.__main__
from tests.cost.conftest import estimated
from tests.cost.samples import SAMPLES
result = estimated(*SAMPLES["AWS::ECS::Service"])
assert result.items, "nothing priced"
print(len(result.items), "aws_cdk" in sys.modules, "jsii" in sys.modules)
"""


def test_the_estimator_imports_and_prices_without_aws_cdk() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert int(out[0]) >= 2
    assert out[1:] == ["False", "False"], "the estimator imported aws_cdk or jsii"
