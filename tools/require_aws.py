"""Refuse real-AWS commands (deploy/diff/destroy) when no credentials are configured."""

from __future__ import annotations

import os
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError


def main() -> int:
    if os.environ.get("AWS_ENDPOINT_URL"):
        print(
            "error: AWS_ENDPOINT_URL is set; `make deploy` targets real AWS. "
            "Unset it, or use `make up` for the local rehearsal.",
            file=sys.stderr,
        )
        return 2
    try:
        identity = boto3.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        print(
            "error: no usable AWS credentials "
            f"({exc.__class__.__name__}: {exc}).\n"
            "Configure them first, e.g. `aws configure` or `export AWS_PROFILE=...`, "
            "then check with `aws sts get-caller-identity`.",
            file=sys.stderr,
        )
        return 2
    print(f"deploying as {identity['Arn']} (account {identity['Account']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
