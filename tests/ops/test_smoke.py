"""`python -m tools.smoke` (the deploy workflow's smoke test) against a real local service, and
its Cognito sign-in (password + authenticator code) against the rehearsal's AWS emulator."""

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

from testkit.servers import RedisServer, free_port
from testkit.service import ServiceProcess
from tests.ops.conftest import DEV, DUMMY_CREDENTIALS, clean_env, run_ops
from tools.cognito_sign_in import password_auth, sign_in, totp

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
        "SMOKE_CLIENT_ID, SMOKE_USERNAME, SMOKE_PASSWORD, SMOKE_TOTP_SECRET empty" in result.stderr
    )
    assert "SMOKE_ACCESS_TOKEN" in result.stderr
    assert "authenticator secret" in result.stderr


def test_a_dead_url_fails_after_the_wait_naming_health() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = smoke(url, "x", "--wait-s", "0.5", "--timeout-s", "0.5")
    assert result.returncode == 1
    assert f"FAIL GET {url}/health never answered 200 in 0.5 s" in result.stdout


# --- The Cognito sign-in (tools/cognito_sign_in.py) against the rehearsal's emulator, whose
# pool checks authenticator codes like Cognito (MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP).

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
    """A pool requiring TOTP MFA, as UserAuth makes it, with a smoke user whose authenticator
    is enrolled (associate-software-token, verify-software-token, MFA preference)."""
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
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
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
    first = password_auth(
        idp, client["ClientId"], SMOKE_EMAIL, SMOKE_PASSWORD, client_secret=secret
    )
    access = first["AuthenticationResult"]["AccessToken"]
    totp_secret = idp.associate_software_token(AccessToken=access)["SecretCode"]
    verified = idp.verify_software_token(AccessToken=access, UserCode=totp(totp_secret))
    assert verified["Status"] == "SUCCESS"
    idp.set_user_mfa_preference(
        AccessToken=access, SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True}
    )
    user = idp.admin_get_user(UserPoolId=pool_id, Username=SMOKE_EMAIL)
    sub = {a["Name"]: a["Value"] for a in user["UserAttributes"]}["sub"]
    return MfaPool(emulator, pool_id, client["ClientId"], secret, totp_secret, sub)


def test_the_password_alone_gets_the_authenticator_challenge_and_the_code_signs_in(
    mfa_pool: MfaPool,
) -> None:
    idp = mfa_pool.idp()
    secret = mfa_pool.client_secret
    first = password_auth(
        idp, mfa_pool.client_id, SMOKE_EMAIL, SMOKE_PASSWORD, client_secret=secret
    )
    assert first["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert "AuthenticationResult" not in first
    token = sign_in(
        idp,
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
    result = smoke(service.base_url, None, "--user-id", "1", "--wait-s", "5", env=mfa_pool.env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        "ok   Cognito sign-in of the test user (password + authenticator code)"
    )
    assert "with a token -> 200, X-Cache: " in result.stdout
    for secret in (SMOKE_PASSWORD, mfa_pool.totp_secret):
        assert secret not in result.stdout + result.stderr


def test_smoke_fails_on_a_wrong_authenticator_secret_without_echoing_it(mfa_pool: MfaPool) -> None:
    env = mfa_pool.env(SMOKE_TOTP_SECRET=OTHER_SECRET)
    result = smoke(f"http://127.0.0.1:{free_port()}", None, "--wait-s", "0.5", env=env)
    assert result.returncode == 1
    assert "FAIL Cognito sign-in of the test user" in result.stdout
    assert "CodeMismatchException" in result.stdout
    for secret in (SMOKE_PASSWORD, OTHER_SECRET):
        assert secret not in result.stdout + result.stderr


def test_smoke_without_the_sign_in_settings_names_them() -> None:
    env = {"SMOKE_CLIENT_ID": "abc", "SMOKE_USERNAME": "smoke", "SMOKE_PASSWORD": "x"}
    result = smoke("http://127.0.0.1:1", None, env=env)
    assert result.returncode == 2
    assert "SMOKE_TOTP_SECRET empty" in result.stderr
    assert "docs/deploy.md" in result.stderr
