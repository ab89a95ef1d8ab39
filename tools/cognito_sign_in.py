"""Signing in to the Cognito user pool like a real client: a password, then the current code of
the user's authenticator app (the pool requires TOTP MFA, infra/constructs/user_auth.py).

Shared by the rehearsal's demo user (tools/rehearsal/cognito.py) and the deploy workflow's
smoke test (tools/smoke.py). Passwords, secrets and codes are arguments only, never printed:
the callers read them from the environment, not from argv.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, Final

TOTP_STEP_S: Final = 30
# A code computed this close to the end of its 30 s step may be checked in the next one; wait
# for the next step instead (a code is valid for its own step only).
_TOTP_MARGIN_S: Final = 2.0
SOFTWARE_TOKEN_MFA: Final = "SOFTWARE_TOKEN_MFA"  # noqa: S105 - a challenge name


class SignInError(RuntimeError):
    """The sign-in did not end with an access token; the message says why and the fix."""


def totp(secret_b32: str, at_s: float | None = None) -> str:
    """The authenticator-app code for `secret_b32` (RFC 6238: SHA-1, 6 digits, 30 s)."""
    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    compact = "".join(secret_b32.split())
    padded = compact + "=" * (-len(compact) % 8)
    key = base64.b32decode(padded, casefold=True)
    generator = TOTP(key, 6, SHA1(), TOTP_STEP_S, enforce_key_length=False)  # noqa: S303 - RFC 6238
    return generator.generate(time.time() if at_s is None else at_s).decode()


def fresh_totp(secret_b32: str) -> str:
    """`totp` now, unless its step is about to end: then the next step's code."""
    left_s = TOTP_STEP_S - time.time() % TOTP_STEP_S
    if left_s < _TOTP_MARGIN_S:
        time.sleep(left_s)
    return totp(secret_b32)


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """Cognito's SECRET_HASH for an app client that has a secret."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _with_hash(
    params: dict[str, str], username: str, client_id: str, client_secret: str
) -> dict[str, str]:
    if client_secret:
        params["SECRET_HASH"] = secret_hash(username, client_id, client_secret)
    return params


def password_auth(
    idp: Any, client_id: str, username: str, password: str, *, client_secret: str = ""
) -> dict[str, Any]:
    """`InitiateAuth` with USER_PASSWORD_AUTH: tokens, or the pool's next challenge."""
    params = {"USERNAME": username, "PASSWORD": password}
    params = _with_hash(params, username, client_id, client_secret)
    response: dict[str, Any] = idp.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters=params
    )
    return response


def answer_totp(
    idp: Any,
    client_id: str,
    username: str,
    challenge: dict[str, Any],
    totp_secret: str,
    *,
    client_secret: str = "",
) -> dict[str, Any]:
    """Answer a SOFTWARE_TOKEN_MFA challenge with the authenticator's current code."""
    # Signed in by an alias (the e-mail), Cognito wants the user's real name in the answer
    # and in its SECRET_HASH.
    name = challenge.get("ChallengeParameters", {}).get("USER_ID_FOR_SRP", username)
    answers = _with_hash(
        {"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": fresh_totp(totp_secret)},
        name,
        client_id,
        client_secret,
    )
    response: dict[str, Any] = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName=SOFTWARE_TOKEN_MFA,
        Session=challenge["Session"],
        ChallengeResponses=answers,
    )
    return response


def sign_in(
    idp: Any,
    client_id: str,
    username: str,
    password: str,
    totp_secret: str,
    *,
    client_secret: str = "",
) -> str:
    """Password, then the authenticator code; returns the access token of a user whose
    authenticator is already enrolled (docs/deploy.md, 'Deploy from GitHub')."""
    response = password_auth(idp, client_id, username, password, client_secret=client_secret)
    if response.get("ChallengeName") == SOFTWARE_TOKEN_MFA:
        response = answer_totp(
            idp, client_id, username, response, totp_secret, client_secret=client_secret
        )
    if "AuthenticationResult" in response:
        return str(response["AuthenticationResult"]["AccessToken"])
    challenge = response.get("ChallengeName")
    fixes = {
        "MFA_SETUP": "the user has no authenticator app yet: enroll one with "
        "associate-software-token and verify-software-token (docs/deploy.md)",
        "NEW_PASSWORD_REQUIRED": "the user's password is temporary: set a permanent one with "
        "aws cognito-idp admin-set-user-password --permanent",
    }
    fix = fixes.get(str(challenge), "answer it, or change the user so that it is not asked")
    raise SignInError(f"Cognito asked for {challenge!r} after the sign-in: {fix}")
