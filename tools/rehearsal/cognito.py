"""The rehearsal's demo user: created in the emulator's Cognito pool and signed in through the
Cognito API like a real client (SRP, then an authenticator-app code: the pool requires MFA), so
the service sees a real, RS256-signed access token of that pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tools.cognito_sign_in import MFA_SETUP, SOFTWARE_TOKEN_MFA, answer_totp, enroll, srp_auth
from tools.rehearsal.processes import RehearsalError

DEMO_EMAIL: Final = "demo.user@fyntrix.example"
# Satisfies the pool's policy (12+ characters, upper, lower, digit, symbol). The emulator's
# pool is discarded with it; a real pool never sees this password.
DEMO_PASSWORD: Final = "Rehearsal-Pass-2026!"  # noqa: S105 - a throwaway emulator password


@dataclass(frozen=True)
class SignedIn:
    access_token: str
    sub: str


def ensure_demo_user(idp: Any, pool_id: str) -> str:
    """The demo user (created once per pool, password permanent); returns its `sub`."""
    try:
        user = idp.admin_get_user(UserPoolId=pool_id, Username=DEMO_EMAIL)
    except idp.exceptions.UserNotFoundException:
        idp.admin_create_user(
            UserPoolId=pool_id,
            Username=DEMO_EMAIL,
            UserAttributes=[
                {"Name": "email", "Value": DEMO_EMAIL},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username=DEMO_EMAIL, Password=DEMO_PASSWORD, Permanent=True
        )
        user = idp.admin_get_user(UserPoolId=pool_id, Username=DEMO_EMAIL)
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    return str(attributes["sub"])


def sign_in(idp: Any, pool_id: str, client_id: str, sub: str, *, authenticator: Path) -> SignedIn:
    """SRP sign-in (the password never leaves this process) answering the pool's MFA
    challenges: MFA_SETUP (register an authenticator app, whose secret is kept in
    `authenticator` like an app keeps it) and SOFTWARE_TOKEN_MFA (its current code)."""
    response = srp_auth(idp, pool_id, client_id, DEMO_EMAIL, DEMO_PASSWORD)
    if response.get("ChallengeName") == MFA_SETUP:  # a new user (or a new emulator's pool)
        authenticator.write_text(enroll(idp, pool_id, client_id, DEMO_EMAIL, DEMO_PASSWORD))
        authenticator.chmod(0o600)
        response = srp_auth(idp, pool_id, client_id, DEMO_EMAIL, DEMO_PASSWORD)
    if response.get("ChallengeName") == SOFTWARE_TOKEN_MFA:
        secret = authenticator.read_text().strip()
        response = answer_totp(idp, client_id, DEMO_EMAIL, response, secret)
    if "AuthenticationResult" not in response:
        raise RehearsalError(
            f"Cognito sign-in did not finish: {response.get('ChallengeName')} (run `make down` "
            "to start from a fresh emulator)"
        )
    return SignedIn(response["AuthenticationResult"]["AccessToken"], sub)
