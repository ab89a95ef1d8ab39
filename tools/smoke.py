"""Smoke test of a deployed stage: `python -m tools.smoke URL --user-id N`.

The deploy workflow runs it against the load balancer URL right after `cdk deploy`:

1. `GET /health` answers 200 (retried while the load balancer settles);
2. `GET /api/portfolio/N` without a token answers 401 (authentication is enforced);
3. the same read with `Authorization: Bearer $SMOKE_ACCESS_TOKEN` answers 200 with an
   `X-Cache` header (the token verifies, the user link works, the cache path runs).

The tool signs the test user in itself (tools/cognito_sign_in.py): password, then the code of
its authenticator app, as the pool requires MFA. Everything secret comes from the environment,
never a flag (a flag shows in `ps` and in logs): SMOKE_CLIENT_ID, SMOKE_CLIENT_SECRET (only
if the app client has one), SMOKE_USERNAME, SMOKE_PASSWORD and SMOKE_TOTP_SECRET (the
authenticator's secret, docs/deploy.md). SMOKE_ACCESS_TOKEN, when set, is used instead.
Exit status: 0 every check passed, 1 a check or the sign-in failed, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.cognito_sign_in import SignInError, sign_in

TOKEN_ENV = "SMOKE_ACCESS_TOKEN"  # noqa: S105 (the variable name, not a token)
# What the sign-in needs (SMOKE_CLIENT_SECRET is optional: app clients without a secret).
SIGN_IN_ENV = ("SMOKE_CLIENT_ID", "SMOKE_USERNAME", "SMOKE_PASSWORD", "SMOKE_TOTP_SECRET")


def get(url: str, headers: Mapping[str, str], timeout_s: float) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def _wait_healthy(base: str, wait_s: float, timeout_s: float) -> str:
    deadline = time.monotonic() + wait_s
    last = "no answer"
    while True:
        try:
            status, _ = get(f"{base}/health", {}, timeout_s)
            if status == 200:
                return "200"
            last = str(status)
        except OSError as exc:  # refused, reset, DNS not yet propagated, timeout
            last = f"{exc.__class__.__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"GET {base}/health never answered 200 in {wait_s:g} s ({last})")
        time.sleep(min(5.0, max(0.1, wait_s / 20)))


def run(
    base: str,
    *,
    user_id: int,
    token: str,
    wait_s: float,
    timeout_s: float,
    say: Callable[[str], None],
) -> int:
    base = base.rstrip("/")
    read = f"{base}/api/portfolio/{user_id}"
    try:
        say(f"ok   GET {base}/health -> {_wait_healthy(base, wait_s, timeout_s)}")
        anonymous, _ = get(read, {}, timeout_s)
        if anonymous != 401:
            raise AssertionError(f"GET {read} without a token answered {anonymous}, not 401")
        say(f"ok   GET {read} without a token -> 401")
        status, headers = get(read, {"Authorization": f"Bearer {token}"}, timeout_s)
        if status != 200:
            raise AssertionError(
                f"GET {read} with the test user's token answered {status}, not 200 "
                f"({headers.get('www-authenticate', 'no WWW-Authenticate')}); is the test "
                f"user's sub linked to user {user_id} (python -m service.ops link-user)?"
            )
        say(f"ok   GET {read} with a token -> 200, X-Cache: {headers.get('x-cache', '?')}")
        if "x-cache" not in headers:
            raise AssertionError(f"GET {read} answered without an X-Cache header")
    except (AssertionError, OSError) as exc:
        say(f"FAIL {exc}")
        return 1
    return 0


def cognito_token(environ: Mapping[str, str]) -> str:
    """The test user's access token. The region is the workflow's AWS_REGION (botocore itself
    reads only AWS_DEFAULT_REGION); boto3 takes any AWS_ENDPOINT_URL from the environment."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
    idp = boto3.client("cognito-idp", region_name=region)
    return sign_in(
        idp,
        environ["SMOKE_CLIENT_ID"].strip(),
        environ["SMOKE_USERNAME"].strip(),
        environ["SMOKE_PASSWORD"],
        environ["SMOKE_TOTP_SECRET"].strip(),
        client_secret=environ.get("SMOKE_CLIENT_SECRET", "").strip(),
    )


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__)
    parser.add_argument("url", help="the stage's load balancer URL (stack output LoadBalancerUrl)")
    parser.add_argument("--user-id", type=int, default=1, help="user the test user is linked to")
    parser.add_argument("--wait-s", type=float, default=120.0, help="how long /health may take")
    parser.add_argument("--timeout-s", type=float, default=10.0, help="per request")
    args = parser.parse_args(list(argv))
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"{args.url!r} is not an http(s) URL")
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        missing = [name for name in SIGN_IN_ENV if not environ.get(name, "").strip()]
        if missing:
            print(
                f"error: {', '.join(missing)} empty. Fix: set the smoke-test user's Cognito app "
                f"client, name, password and authenticator secret ({', '.join(SIGN_IN_ENV)}; "
                f"docs/deploy.md, 'Deploy from GitHub'), or export a token as {TOKEN_ENV}",
                file=sys.stderr,
            )
            return 2
        try:
            token = cognito_token(environ)
        except (BotoCoreError, ClientError, SignInError, ValueError) as exc:
            print(f"FAIL Cognito sign-in of the test user: {exc}", flush=True)
            return 1
        print("ok   Cognito sign-in of the test user (password + authenticator code)")
    return run(
        args.url,
        user_id=args.user_id,
        token=token,
        wait_s=args.wait_s,
        timeout_s=args.timeout_s,
        say=lambda line: print(line, flush=True),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
