"""The rehearsal's demo user: created in the emulator's Cognito pool and signed in through the
Cognito API like a real client (password, then an authenticator-app code: the pool requires
MFA), so the service sees a real, RS256-signed access token of that pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tools.cognito_sign_in import SOFTWARE_TOKEN_MFA, answer_totp, password_auth, totp
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


def sign_in(idp: Any, client_id: str, sub: str, *, authenticator: Path) -> SignedIn:
    """Password sign-in answering the pool's MFA challenges: MFA_SETUP (register an
    authenticator app, whose secret is kept in `authenticator` like an app keeps it) and
    SOFTWARE_TOKEN_MFA (its current code)."""
    response = _password(idp, client_id)
    if "AuthenticationResult" in response and not _has_totp(idp, response):
        # A user without an authenticator yet (the emulator lets the first sign-in through
        # where Cognito would ask for MFA_SETUP): register one, then sign in again with it.
        token = response["AuthenticationResult"]["AccessToken"]
        _register_totp(idp, authenticator, access_token=token)
        response = _password(idp, client_id)
    for _ in range(3):
        if "AuthenticationResult" in response:
            return SignedIn(response["AuthenticationResult"]["AccessToken"], sub)
        response = _answer(idp, client_id, response, authenticator)
    raise RehearsalError(f"Cognito sign-in did not finish: {response.get('ChallengeName')}")


def _password(idp: Any, client_id: str) -> dict[str, Any]:
    return password_auth(idp, client_id, DEMO_EMAIL, DEMO_PASSWORD)


def _has_totp(idp: Any, response: dict[str, Any]) -> bool:
    user = idp.get_user(AccessToken=response["AuthenticationResult"]["AccessToken"])
    return "SOFTWARE_TOKEN_MFA" in user.get("UserMFASettingList", [])


def _register_totp(
    idp: Any, authenticator: Path, *, access_token: str = "", session: str = ""
) -> str:
    """Associate and verify an authenticator app; returns the session to continue with."""
    device = "rehearsal"
    if access_token:
        secret = idp.associate_software_token(AccessToken=access_token)["SecretCode"]
        verified = idp.verify_software_token(
            AccessToken=access_token, UserCode=totp(secret), FriendlyDeviceName=device
        )
        idp.set_user_mfa_preference(
            AccessToken=access_token,
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
        )
    else:
        associated = idp.associate_software_token(Session=session)
        secret = associated["SecretCode"]
        verified = idp.verify_software_token(
            Session=associated.get("Session", session),
            UserCode=totp(secret),
            FriendlyDeviceName=device,
        )
    if verified["Status"] != "SUCCESS":
        raise RehearsalError(f"Cognito rejected the authenticator code: {verified}")
    authenticator.write_text(secret)
    authenticator.chmod(0o600)
    return str(verified.get("Session", session))


def _answer(
    idp: Any, client_id: str, response: dict[str, Any], authenticator: Path
) -> dict[str, Any]:
    challenge = response.get("ChallengeName")
    if challenge == SOFTWARE_TOKEN_MFA:
        if not authenticator.exists():
            raise RehearsalError(
                f"Cognito asks for an authenticator code, but {authenticator} is missing "
                "(run `make down` to start from a fresh emulator)"
            )
        secret = authenticator.read_text().strip()
        return answer_totp(idp, client_id, DEMO_EMAIL, response, secret)
    if challenge != "MFA_SETUP":
        raise RehearsalError(f"unexpected Cognito challenge {challenge!r}")
    session = _register_totp(idp, authenticator, session=response["Session"])
    answered: dict[str, Any] = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName=challenge,
        Session=session,
        ChallengeResponses={"USERNAME": DEMO_EMAIL},
    )
    return answered
