"""`cdk synth` of one stage, the way `make synth` runs it, into a folder the caller owns.

The real, pinned CDK CLI runs `app.py` (cdk-nag included) with `-c stage=<stage>` and each
setting as `-c set:<path>=<value>`. Prod synthesizes only with a certificate (and deploys only
with an immutable image tag); neither changes what the stage costs, so an estimate without
them uses the placeholders below and says so.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from tools.cost.errors import CostError

ROOT: Final = Path(__file__).resolve().parents[2]
CDK: Final = ROOT / "node_modules" / ".bin" / "cdk"
# Settings a stage cannot be synthesized without but that change no price: used only when the
# caller gives none (the generated pages always use them, so they do not depend on anyone's
# certificate).
PLACEHOLDERS: Final[Mapping[str, Mapping[str, str]]] = {
    "prod": {
        "certificate_arn": (
            "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
        ),
        "domain_name": "api.fyntrix.example",
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
        "app.image_tag": "cost-estimate",
    },
}


def with_placeholders(stage: str, sets: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """`sets` completed with the stage's placeholders, and the names of those it used."""
    merged = dict(sets)
    used = []
    for path, value in PLACEHOLDERS.get(stage, {}).items():
        if path not in merged:
            merged[path] = value
            used.append(path)
    return merged, used


def synthesize(stage: str, sets: Mapping[str, str], outdir: Path) -> None:
    if not CDK.exists():
        raise CostError(f"{CDK.relative_to(ROOT)} is missing. Fix: run `make setup`")
    argv = [str(CDK), "synth", "--quiet", "--no-notices", "-o", str(outdir), "-c", f"stage={stage}"]
    # As `make synth`: the stage file's example values synthesize; only a deploy refuses them.
    argv += ["-c", "allowPlaceholders=true"]
    for path, value in sorted(sets.items()):
        argv += ["-c", f"set:{path}={value}"]
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise CostError(f"cdk synth of stage {stage} failed:\n{tail}")
