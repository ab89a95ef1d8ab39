"""`python -m tools.rehearsal.demo_token`: print an access token of the rehearsal's demo user.

The command `make up` prints for RUNTIME=processes, where the service checks tokens of the
pool deployed into the emulator: it signs the demo user in again (password, then the
authenticator code from the secret `make up` kept in the run folder) and prints the access
token, so `TOKEN=$(...)` followed by `curl -H "Authorization: Bearer $TOKEN" ...` works as
pasted. It reads the emulator's endpoint from the run folder, not from the environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.config import ConfigError, load_configured_stage
from tools.rehearsal.cognito import ensure_demo_user, sign_in
from tools.rehearsal.processes import RehearsalError

ROOT = Path(__file__).resolve().parents[2]
# The emulator accepts any credentials; these never reach a real account (loopback endpoint).
DUMMY_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def demo_token(run_dir: Path, stage: str) -> str:
    """The demo user's access token for the pool `make up` deployed for `stage`."""
    import boto3

    state_file = run_dir / "state.json"
    if not state_file.exists():
        raise RehearsalError(f"no rehearsal runs from {run_dir}: run `make up` first")
    endpoint = json.loads(state_file.read_text())["endpoint"]
    # Any image tag: the stack's name and region do not depend on it (prod refuses `latest`).
    config, _ = load_configured_stage(stage, image_tag="demo-token")
    session = boto3.session.Session(region_name=config.region, **DUMMY_KEYS)
    stacks = session.client("cloudformation", endpoint_url=endpoint).describe_stacks(
        StackName=config.service_stack_name
    )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks["Stacks"][0]["Outputs"]}
    pool_id, client_id = outputs["UserPoolId"], outputs["AppClientIds"].split(",")[0]
    idp = session.client("cognito-idp", endpoint_url=endpoint)
    sub = ensure_demo_user(idp, pool_id)
    signed_in = sign_in(idp, pool_id, client_id, sub, authenticator=run_dir / "demo-user-totp")
    return signed_in.access_token


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.rehearsal.demo_token", description=__doc__
    )
    parser.add_argument("--run-dir", type=Path, default=ROOT / ".run", help="make up's RUN_DIR")
    parser.add_argument("--stage", default="dev", help="the stage make up deployed")
    args = parser.parse_args(list(argv))
    try:
        print(demo_token(args.run_dir.resolve(), args.stage))
    except (RehearsalError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
