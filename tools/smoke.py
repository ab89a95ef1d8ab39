"""Smoke test of a deployed stage: `python -m tools.smoke URL --user-id N`.

The deploy workflow runs it against the stack's `ServiceUrl` output right after `cdk deploy`:

1. `GET /health` answers 200 (retried while the load balancer settles);
2. `GET /api/portfolio/N` without a token answers 401 (authentication is enforced);
3. the same read with `Authorization: Bearer <token>` answers 200 with an `X-Cache` header
   (the token verifies, the user link works, the cache path runs).

A stage with a certificate is called on its domain (`https://api.example.com`), since the
certificate covers that name and not the load balancer's. `--connect-to HOST` sends the
requests to HOST (the load balancer's DNS name) while TLS (SNI and certificate verification)
and the Host header still use the URL's domain, so the smoke test does not depend on the
domain's DNS record. A bearer token never travels over plain HTTP beyond this machine: an
`http://` URL is accepted only for a loopback host.

The tool signs the test user in itself (tools/cognito_sign_in.py): SRP (the password never
leaves this process), then the code of its authenticator app, as the pool requires MFA.
Everything secret comes from the environment, never a flag (a flag shows in `ps` and in
logs): SMOKE_CLIENT_ID, SMOKE_CLIENT_SECRET (only if the app client has one), SMOKE_USERNAME,
SMOKE_PASSWORD and SMOKE_TOTP_SECRET (the authenticator's secret, docs/deploy.md); the pool
is `--user-pool-id` (the stack's UserPoolId output). SMOKE_ACCESS_TOKEN, when set, is used
instead of a sign-in.
Exit status: 0 every check passed, 1 a check or the sign-in failed, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import os
import socket
import ssl
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools.cognito_sign_in import SignInError, sign_in

TOKEN_ENV = "SMOKE_ACCESS_TOKEN"  # noqa: S105 (the variable name, not a token)
# What the sign-in needs (SMOKE_CLIENT_SECRET is optional: app clients without a secret).
SIGN_IN_ENV = ("SMOKE_CLIENT_ID", "SMOKE_USERNAME", "SMOKE_PASSWORD", "SMOKE_TOTP_SECRET")


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to `address` for the URL's host: SNI, certificate check and Host header use the
    host (the domain), the TCP connection goes to `address` (the load balancer)."""

    def __init__(
        self, host: str, port: int, *, address: str, timeout_s: float, tls: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout_s, context=tls)
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def get(
    url: str, headers: Mapping[str, str], timeout_s: float, *, connect_to: str | None = None
) -> tuple[int, dict[str, str]]:
    """One GET (no redirects followed): status and lower-cased headers."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        # The system's trust store (SSL_CERT_FILE can point it at another bundle).
        tls = ssl.create_default_context()
        conn = _PinnedHTTPS(
            host, parts.port or 443, address=connect_to or host, timeout_s=timeout_s, tls=tls
        )
    else:
        conn = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout_s)
    try:
        conn.request("GET", target, headers=dict(headers))
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def plain_http_refusal(url: str) -> str | None:
    """Why `url` must not carry a bearer token (plain HTTP beyond loopback), or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return None
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (
        f"refusing to send a bearer token over plain HTTP to {host}: anyone on the path could "
        "read and replay it. Fix: give the stage a certificate and its domain (certificate_arn "
        "and domain_name, docs/deploy.md) and smoke-test its ServiceUrl output (https://...)"
    )


def _wait_healthy(base: str, wait_s: float, timeout_s: float, connect_to: str | None) -> str:
    deadline = time.monotonic() + wait_s
    last = "no answer"
    while True:
        try:
            status, _ = get(f"{base}/health", {}, timeout_s, connect_to=connect_to)
            if status == 200:
                return "200"
            last = str(status)
        except OSError as exc:  # refused, reset, DNS not yet propagated, timeout, TLS
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
    connect_to: str | None = None,
) -> int:
    base = base.rstrip("/")
    read = f"{base}/api/portfolio/{user_id}"
    try:
        healthy = _wait_healthy(base, wait_s, timeout_s, connect_to)
        say(f"ok   GET {base}/health -> {healthy}")
        anonymous, _ = get(read, {}, timeout_s, connect_to=connect_to)
        if anonymous != 401:
            raise AssertionError(f"GET {read} without a token answered {anonymous}, not 401")
        say(f"ok   GET {read} without a token -> 401")
        auth = {"Authorization": f"Bearer {token}"}
        status, headers = get(read, auth, timeout_s, connect_to=connect_to)
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


def cognito_token(environ: Mapping[str, str], pool_id: str) -> str:
    """The test user's access token. The region is the workflow's AWS_REGION (botocore itself
    reads only AWS_DEFAULT_REGION); boto3 takes any AWS_ENDPOINT_URL from the environment."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
    idp = boto3.client("cognito-idp", region_name=region)
    return sign_in(
        idp,
        pool_id,
        environ["SMOKE_CLIENT_ID"].strip(),
        environ["SMOKE_USERNAME"].strip(),
        environ["SMOKE_PASSWORD"],
        environ["SMOKE_TOTP_SECRET"].strip(),
        client_secret=environ.get("SMOKE_CLIENT_SECRET", "").strip(),
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__)
    parser.add_argument("url", help="the stage's URL (stack output ServiceUrl)")
    parser.add_argument("--user-id", type=int, default=1, help="user the test user is linked to")
    parser.add_argument("--user-pool-id", help="the stage's Cognito pool (output UserPoolId)")
    parser.add_argument(
        "--connect-to",
        metavar="HOST",
        help="send the requests to HOST (the LoadBalancerUrl's host); TLS and Host use the URL's",
    )
    parser.add_argument("--wait-s", type=float, default=120.0, help="how long /health may take")
    parser.add_argument("--timeout-s", type=float, default=10.0, help="per request")
    return parser


def _token(environ: Mapping[str, str], pool_id: str | None) -> tuple[str, int]:
    """The bearer token and 0, or "" and the exit status of a failed sign-in."""
    token = environ.get(TOKEN_ENV, "").strip()
    if token:
        return token, 0
    missing = [name for name in SIGN_IN_ENV if not environ.get(name, "").strip()]
    if not pool_id:
        missing.append("--user-pool-id")
    if missing:
        print(
            f"error: {', '.join(missing)} empty. Fix: set the smoke-test user's Cognito app "
            f"client, name, password and authenticator secret ({', '.join(SIGN_IN_ENV)}; "
            "docs/deploy.md, 'Deploy from GitHub') and pass the pool (--user-pool-id, the "
            f"UserPoolId output), or export a token as {TOKEN_ENV}",
            file=sys.stderr,
        )
        return "", 2
    try:
        token = cognito_token(environ, pool_id or "")
    except (BotoCoreError, ClientError, SignInError, ValueError) as exc:
        print(f"FAIL Cognito sign-in of the test user: {exc}", flush=True)
        return "", 1
    print("ok   Cognito sign-in of the test user (SRP + authenticator code)")
    return token, 0


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = _parser()
    args = parser.parse_args(list(argv))
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"{args.url!r} is not an http(s) URL")
    if args.connect_to and not args.url.startswith("https://"):
        parser.error("--connect-to needs an https:// URL (its host names the certificate)")
    refusal = plain_http_refusal(args.url)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    token, status = _token(environ, args.user_pool_id)
    if status:
        return status
    return run(
        args.url,
        user_id=args.user_id,
        token=token,
        wait_s=args.wait_s,
        timeout_s=args.timeout_s,
        say=lambda line: print(line, flush=True),
        connect_to=args.connect_to,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
