"""Refuse the AWS commands of the Makefile (deploy, diff, destroy, ...) without usable
credentials, and say where they go.

They go to AWS, or to a local AWS emulator when AWS_ENDPOINT_URL names one on this machine's
loopback (the rehearsal's: `make up` prints the endpoint; the CDK CLI and boto3 both read the
variable). Any other endpoint is refused: a leftover or mistyped AWS_ENDPOINT_URL must not send
a deploy somewhere nobody meant.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def is_loopback_endpoint(url: str) -> bool:
    """True when `url` is an http(s) URL whose host is this machine's loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main() -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and not is_loopback_endpoint(endpoint):
        print(
            f"error: AWS_ENDPOINT_URL={endpoint} is not a local emulator: these commands go to "
            "AWS, or to an emulator on this machine (http://localhost:PORT, as `make up` "
            "prints it). Unset it to use AWS.",
            file=sys.stderr,
        )
        return 2
    # STS answers in any region; botocore reads AWS_DEFAULT_REGION and the profile, not the
    # AWS_REGION the deploy guide exports, so name one (the call only asks who we are).
    session = boto3.session.Session()
    region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        print(
            "error: no usable AWS credentials "
            f"({exc.__class__.__name__}: {exc}).\n"
            "Configure them first, e.g. `aws configure` or `export AWS_PROFILE=...`, "
            "then check with `aws sts get-caller-identity`.",
            file=sys.stderr,
        )
        return 2
    where = f"the AWS emulator at {endpoint}" if endpoint else "AWS"
    print(f"deploying to {where} as {identity['Arn']} (account {identity['Account']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
