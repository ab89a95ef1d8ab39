"""`python -m tools.smoke` (the deploy workflow's smoke test) against a real local service, also
behind a real TLS front for the stage's domain, and its Cognito sign-in (SRP + authenticator
code) against the rehearsal's AWS emulator."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from testkit.emulator import DUMMY_CREDENTIALS
from testkit.servers import RedisServer, free_port
from testkit.service import ServiceProcess
from tests.ops.conftest import DEV, clean_env, run_ops
from tests.ops.tls_front import issue, tls_front
from tools.cognito_sign_in import enroll, sign_in, srp_auth

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def local_env(tmp_path: Path, redis_server: RedisServer) -> dict[str, str]:
    return clean_env(
        APP_STAGE="local",
        AUTH_DEV_KEY_PATH=str(tmp_path / "dev-key.pem"),
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=str(redis_server.port),
    )


@pytest.fixture
def service(
    local_env: dict[str, str], service_process_factory: Callable[..., ServiceProcess]
) -> ServiceProcess:
    blank = {"AUTH_ISSUER": "", "AUTH_JWKS_URL": "", "AUTH_CLIENT_IDS": ""}
    return service_process_factory({**local_env, **blank})


def smoke(
    url: str, token: str | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m tools.smoke` with no SMOKE_* or AWS_* variable of this process: `env` only."""
    clean = {k: v for k, v in clean_env().items() if not k.startswith(("SMOKE_", "AWS_"))}
    env = {**clean, **(env or {})}
    if token is not None:
        env["SMOKE_ACCESS_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "tools.smoke", url, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def user_token(env: dict[str, str], user_id: int) -> str:
    result = run_ops("token", "--user", str(user_id), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_passes_health_401_and_an_authenticated_cached_read(
    local_env: dict[str, str], service: ServiceProcess
) -> None:
    result = smoke(service.base_url, user_token(local_env, 1), "--user-id", "1", "--wait-s", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok   GET {service.base_url}/health -> 200"
    assert lines[1].endswith("without a token -> 401")
    assert "with a token -> 200, X-Cache: " in lines[2]


def test_fails_when_the_token_is_for_another_user(
    local_env: dict[str, str], service: ServiceProcess
) -> None:
    result = smoke(service.base_url, user_token(local_env, 2), "--user-id", "1", "--wait-s", "5")
    assert result.returncode == 1
    assert "answered 403, not 200" in result.stdout
    assert "link-user" in result.stdout


def test_fails_on_a_forged_token(service: ServiceProcess) -> None:
    result = smoke(service.base_url, "not-a-jwt", "--wait-s", "5")
    assert result.returncode == 1
    assert "answered 401, not 200" in result.stdout


def test_without_a_token_says_how_to_get_one() -> None:
    result = smoke("http://127.0.0.1:1", None)
    assert result.returncode == 2
    assert (
        "SMOKE_CLIENT_ID, SMOKE_USERNAME, SMOKE_PASSWORD, SMOKE_TOTP_SECRET, --user-pool-id empty"
        in result.stderr
    )
    assert "SMOKE_ACCESS_TOKEN" in result.stderr
    assert "authenticator secret" in result.stderr


@pytest.mark.parametrize(
    "url", ["http://192.0.2.10", "http://api.fyntrix.example:8080", "http://[2001:db8::1]"]
)
def test_refuses_to_send_a_token_over_plain_http_beyond_loopback(url: str) -> None:
    result = smoke(url, "a-real-looking-token", "--wait-s", "0.5")
    assert result.returncode == 2
    assert "refusing to send a bearer token over plain HTTP" in result.stderr
    assert "certificate_arn and domain_name" in result.stderr and "ServiceUrl" in result.stderr
    assert result.stdout == ""  # not even /health was called


DOMAIN = "api.fyntrix.example"


def test_calls_the_domain_through_the_load_balancer_with_sni_and_host(
    tmp_path: Path, local_env: dict[str, str], service: ServiceProcess
) -> None:
    ca, cert, key = issue(tmp_path, DOMAIN)
    with tls_front(cert, key, service.port) as (port, seen):
        url = f"https://{DOMAIN}:{port}"
        result = smoke(
            url,
            user_token(local_env, 1),
            "--connect-to",
            "127.0.0.1",
            "--wait-s",
            "5",
            env={"SSL_CERT_FILE": str(ca)},
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"ok   GET {url}/health -> 200"
    assert "with a token -> 200, X-Cache: " in result.stdout
    # THEN every connection named the domain in TLS and every request in its Host header
    assert seen.server_names and set(seen.server_names) == {DOMAIN}
    assert len(seen.hosts) >= 3 and set(seen.hosts) == {f"{DOMAIN}:{port}"}


def test_a_certificate_for_another_name_fails_verification(
    tmp_path: Path, service: ServiceProcess
) -> None:
    ca, cert, key = issue(tmp_path, "other.fyntrix.example")
    with tls_front(cert, key, service.port) as (port, seen):
        result = smoke(
            f"https://{DOMAIN}:{port}",
            "x",
            "--connect-to",
            "127.0.0.1",
            "--wait-s",
            "0.5",
            "--timeout-s",
            "2",
            env={"SSL_CERT_FILE": str(ca)},
        )
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stdout
    assert seen.hosts == []  # no request (and no token) was sent


def test_connect_to_needs_https() -> None:
    result = smoke("http://127.0.0.1:1", "x", "--connect-to", "127.0.0.1")
    assert result.returncode == 2
    assert "--connect-to needs an https:// URL" in result.stderr


def test_a_dead_url_fails_after_the_wait_naming_health() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = smoke(url, "x", "--wait-s", "0.5", "--timeout-s", "0.5")
    assert result.returncode == 1
    assert f"FAIL GET {url}/health never answered 200 in 0.5 s" in result.stdout


# --- The Cognito sign-in (tools/cognito_sign_in.py) against the rehearsal's emulator, whose
# pool checks authenticator codes like Cognito (MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP). The
# emulator does not check the SRP proof itself (tests/ops/test_cognito_srp.py checks its math
# against an independent implementation); it does run the challenge sequence.

REGION = DEV.region
SMOKE_EMAIL = "smoke.user@fyntrix.example"
SMOKE_PASSWORD = "Smoke-Test-Pass-2026!"
OTHER_SECRET = base64.b32encode(b"not the enrolled authenticator").decode()


@dataclass(frozen=True)
class MfaPool:
    endpoint: str
    pool_id: str
    client_id: str
    client_secret: str
    totp_secret: str
    sub: str

    def idp(self) -> Any:
        return boto3.client(
            "cognito-idp", endpoint_url=self.endpoint, region_name=REGION, **BOTO_CREDENTIALS
        )

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "SMOKE_CLIENT_ID": self.client_id,
            "SMOKE_CLIENT_SECRET": self.client_secret,
            "SMOKE_USERNAME": SMOKE_EMAIL,
            "SMOKE_PASSWORD": SMOKE_PASSWORD,
            "SMOKE_TOTP_SECRET": self.totp_secret,
            **extra,
        }


BOTO_CREDENTIALS = {
    "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
}


@pytest.fixture(params=[False, True], ids=["public-client", "client-with-secret"])
def mfa_pool(request: pytest.FixtureRequest, emulator: str) -> MfaPool:
    """A pool requiring TOTP MFA with an SRP-only app client, as UserAuth makes them, and a
    smoke user whose authenticator is enrolled (`tools.cognito_sign_in.enroll`)."""
    idp = boto3.client("cognito-idp", endpoint_url=emulator, region_name=REGION, **BOTO_CREDENTIALS)
    pool_id = idp.create_user_pool(PoolName=f"smoke-{free_port()}")["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(
        UserPoolId=pool_id,
        SoftwareTokenMfaConfiguration={"Enabled": True},
        MfaConfiguration="ON",
    )
    client = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="smoke",
        GenerateSecret=request.param,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=SMOKE_EMAIL,
        UserAttributes=[{"Name": "email", "Value": SMOKE_EMAIL}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=SMOKE_EMAIL, Password=SMOKE_PASSWORD, Permanent=True
    )
    secret = client.get("ClientSecret", "")
    totp_secret = enroll(
        idp, pool_id, client["ClientId"], SMOKE_EMAIL, SMOKE_PASSWORD, client_secret=secret
    )
    user = idp.admin_get_user(UserPoolId=pool_id, Username=SMOKE_EMAIL)
    sub = {a["Name"]: a["Value"] for a in user["UserAttributes"]}["sub"]
    return MfaPool(emulator, pool_id, client["ClientId"], secret, totp_secret, sub)


def test_srp_alone_gets_the_authenticator_challenge_and_the_code_signs_in(
    mfa_pool: MfaPool,
) -> None:
    idp = mfa_pool.idp()
    secret = mfa_pool.client_secret
    first = srp_auth(
        idp, mfa_pool.pool_id, mfa_pool.client_id, SMOKE_EMAIL, SMOKE_PASSWORD, client_secret=secret
    )
    assert first["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert "AuthenticationResult" not in first
    token = sign_in(
        idp,
        mfa_pool.pool_id,
        mfa_pool.client_id,
        SMOKE_EMAIL,
        SMOKE_PASSWORD,
        mfa_pool.totp_secret,
        client_secret=secret,
    )
    assert idp.get_user(AccessToken=token)["Username"] == SMOKE_EMAIL


def test_a_code_of_another_authenticator_is_refused(mfa_pool: MfaPool) -> None:
    with pytest.raises(ClientError, match="CodeMismatchException"):
        sign_in(
            mfa_pool.idp(),
            mfa_pool.pool_id,
            mfa_pool.client_id,
            SMOKE_EMAIL,
            SMOKE_PASSWORD,
            OTHER_SECRET,
            client_secret=mfa_pool.client_secret,
        )


def test_smoke_signs_in_with_the_authenticator_and_reads_as_the_linked_user(
    mfa_pool: MfaPool,
    local_env: dict[str, str],
    service_process_factory: Callable[..., ServiceProcess],
) -> None:
    # The service trusts the emulator's pool (as the rehearsal starts it).
    trust = {
        "AUTH_ISSUER": f"https://cognito-idp.{REGION}.amazonaws.com/{mfa_pool.pool_id}",
        "AUTH_JWKS_URL": f"{mfa_pool.endpoint}/{mfa_pool.pool_id}/.well-known/jwks.json",
        "AUTH_CLIENT_IDS": mfa_pool.client_id,
    }
    service = service_process_factory({**local_env, **trust})
    linked = run_ops("link-user", "--sub", mfa_pool.sub, "--user", "1", env={**local_env, **trust})
    assert linked.returncode == 0, linked.stderr
    pool = ("--user-pool-id", mfa_pool.pool_id)
    result = smoke(
        service.base_url, None, *pool, "--user-id", "1", "--wait-s", "5", env=mfa_pool.env()
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        "ok   Cognito sign-in of the test user (SRP + authenticator code)"
    )
    assert "with a token -> 200, X-Cache: " in result.stdout
    for secret in (SMOKE_PASSWORD, mfa_pool.totp_secret):
        assert secret not in result.stdout + result.stderr


def test_smoke_fails_on_a_wrong_authenticator_secret_without_echoing_it(mfa_pool: MfaPool) -> None:
    env = mfa_pool.env(SMOKE_TOTP_SECRET=OTHER_SECRET)
    url = f"http://127.0.0.1:{free_port()}"
    result = smoke(url, None, "--user-pool-id", mfa_pool.pool_id, "--wait-s", "0.5", env=env)
    assert result.returncode == 1
    assert "FAIL Cognito sign-in of the test user" in result.stdout
    assert "CodeMismatchException" in result.stdout
    for secret in (SMOKE_PASSWORD, OTHER_SECRET):
        assert secret not in result.stdout + result.stderr


def test_smoke_without_the_sign_in_settings_names_them() -> None:
    env = {"SMOKE_CLIENT_ID": "abc", "SMOKE_USERNAME": "smoke", "SMOKE_PASSWORD": "x"}
    result = smoke("http://127.0.0.1:1", None, env=env)
    assert result.returncode == 2
    assert "SMOKE_TOTP_SECRET, --user-pool-id empty" in result.stderr
    assert "docs/deploy.md" in result.stderr
