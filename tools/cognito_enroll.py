"""`python -m tools.cognito_enroll --user-pool-id POOL --client-id CLIENT`: the first sign-in of
a Cognito user (the deploy workflow's smoke-test user), registering its authenticator.

Signs in with SRP (the password never leaves this process), answers the pool's MFA_SETUP
challenge with a new authenticator, and prints that authenticator's secret on stdout: store it
as the smoke test's SMOKE_TOTP_SECRET. The user name and password come from the environment
(COGNITO_USERNAME, COGNITO_PASSWORD, and COGNITO_CLIENT_SECRET if the app client has one),
never the arguments, which `ps` and shell history show. AWS_REGION names the pool's region.
Exit status: 0 enrolled, 1 Cognito refused, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.cognito_sign_in import SignInError, enroll

REQUIRED_ENV = ("COGNITO_USERNAME", "COGNITO_PASSWORD")


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cognito_enroll", description=__doc__)
    parser.add_argument("--user-pool-id", required=True, help="the stack's UserPoolId output")
    parser.add_argument("--client-id", required=True, help="the stack's AppClientIds output")
    args = parser.parse_args(list(argv))
    missing = [name for name in REQUIRED_ENV if not environ.get(name, "").strip()]
    if missing:
        print(
            f"error: {', '.join(missing)} empty. Fix: export the user's name and password "
            "(read -rs COGNITO_PASSWORD keeps it out of the shell history)",
            file=sys.stderr,
        )
        return 2
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
    idp = boto3.client("cognito-idp", region_name=region)
    try:
        secret = enroll(
            idp,
            args.user_pool_id,
            args.client_id,
            environ["COGNITO_USERNAME"].strip(),
            environ["COGNITO_PASSWORD"],
            client_secret=environ.get("COGNITO_CLIENT_SECRET", "").strip(),
        )
    except (BotoCoreError, ClientError, SignInError, ValueError) as exc:
        print(f"error: enrolling the authenticator failed: {exc}", file=sys.stderr)
        return 1
    print(secret)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
