"""Signing in to the Cognito user pool like a real client: SRP (the password proves itself
without being sent; tools/cognito_srp.py), then the current code of the user's authenticator
app (the pool requires TOTP MFA, infra/constructs/user_auth.py). No app client here allows
USER_PASSWORD_AUTH unless a dev stage opts in (`auth.password_auth`).

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

from tools.cognito_srp import SrpChallenge, SrpClient

TOTP_STEP_S: Final = 30
# A code computed this close to the end of its 30 s step may be checked in the next one; wait
# for the next step instead (a code is valid for its own step only).
_TOTP_MARGIN_S: Final = 2.0
SOFTWARE_TOKEN_MFA: Final = "SOFTWARE_TOKEN_MFA"  # noqa: S105 - a challenge name
PASSWORD_VERIFIER: Final = "PASSWORD_VERIFIER"  # noqa: S105 - a challenge name
MFA_SETUP: Final = "MFA_SETUP"


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


def srp_auth(
    idp: Any,
    pool_id: str,
    client_id: str,
    username: str,
    password: str,
    *,
    client_secret: str = "",
) -> dict[str, Any]:
    """`InitiateAuth` with USER_SRP_AUTH, then the PASSWORD_VERIFIER proof: tokens, or the
    pool's next challenge. The password never leaves this process (tools/cognito_srp.py)."""
    srp = SrpClient(pool_id)
    params = {"USERNAME": username, "SRP_A": srp.srp_a}
    params = _with_hash(params, username, client_id, client_secret)
    started: dict[str, Any] = idp.initiate_auth(
        ClientId=client_id, AuthFlow="USER_SRP_AUTH", AuthParameters=params
    )
    if started.get("ChallengeName") != PASSWORD_VERIFIER:
        raise SignInError(
            f"Cognito answered USER_SRP_AUTH with {started.get('ChallengeName')!r}, not "
            f"{PASSWORD_VERIFIER}: is ALLOW_USER_SRP_AUTH enabled on app client {client_id}?"
        )
    values = started["ChallengeParameters"]
    challenge = SrpChallenge(
        srp_b=values["SRP_B"],
        salt=values["SALT"],
        secret_block=values["SECRET_BLOCK"],
        user_id_for_srp=values["USER_ID_FOR_SRP"],
    )
    answers = srp.answer(challenge, password)
    # The user's own name (an e-mail alias signs in as the pool's internal username).
    name = values.get("USERNAME", challenge.user_id_for_srp)
    answers["USERNAME"] = name
    response: dict[str, Any] = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName=PASSWORD_VERIFIER,
        Session=started.get("Session", ""),
        ChallengeResponses=_with_hash(answers, name, client_id, client_secret),
    )
    response.setdefault("ChallengeParameters", {}).setdefault("USERNAME", name)
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
    # and in its SECRET_HASH (srp_auth records it in the challenge's parameters).
    parameters = challenge.get("ChallengeParameters", {})
    name = parameters.get("USERNAME") or parameters.get("USER_ID_FOR_SRP") or username
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
    pool_id: str,
    client_id: str,
    username: str,
    password: str,
    totp_secret: str,
    *,
    client_secret: str = "",
) -> str:
    """SRP, then the authenticator code; returns the access token of a user whose
    authenticator is already enrolled (docs/deploy.md, 'Deploy from GitHub')."""
    response = srp_auth(idp, pool_id, client_id, username, password, client_secret=client_secret)
    if response.get("ChallengeName") == SOFTWARE_TOKEN_MFA:
        response = answer_totp(
            idp, client_id, username, response, totp_secret, client_secret=client_secret
        )
    if "AuthenticationResult" in response:
        return str(response["AuthenticationResult"]["AccessToken"])
    challenge = response.get("ChallengeName")
    fixes = {
        MFA_SETUP: "the user has no authenticator app yet: enroll one with "
        "`python -m tools.cognito_sign_in enroll` (docs/deploy.md)",
        "NEW_PASSWORD_REQUIRED": "the user's password is temporary: set a permanent one with "
        "aws cognito-idp admin-set-user-password --permanent",
    }
    fix = fixes.get(str(challenge), "answer it, or change the user so that it is not asked")
    raise SignInError(f"Cognito asked for {challenge!r} after the sign-in: {fix}")


def enroll(
    idp: Any,
    pool_id: str,
    client_id: str,
    username: str,
    password: str,
    *,
    client_secret: str = "",
    device: str = "authenticator",
) -> str:
    """First sign-in of a user without an authenticator: SRP, then the pool's MFA_SETUP
    challenge answered by registering a new authenticator. Returns its secret (what an
    authenticator app stores; `sign_in` computes codes from it)."""
    response = srp_auth(idp, pool_id, client_id, username, password, client_secret=client_secret)
    if response.get("ChallengeName") != MFA_SETUP:
        raise SignInError(
            f"Cognito answered the sign-in with {response.get('ChallengeName') or 'tokens'!r}, "
            f"not {MFA_SETUP}: the user already has an authenticator (sign in with its secret) "
            "or the pool does not require MFA"
        )
    associated = idp.associate_software_token(Session=response["Session"])
    secret = str(associated["SecretCode"])
    verified = idp.verify_software_token(
        Session=associated.get("Session", response["Session"]),
        UserCode=totp(secret),
        FriendlyDeviceName=device,
    )
    if verified.get("Status") != "SUCCESS":
        raise SignInError(f"Cognito did not accept the new authenticator's code: {verified}")
    name = response["ChallengeParameters"]["USERNAME"]
    done = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName=MFA_SETUP,
        Session=verified["Session"],
        ChallengeResponses=_with_hash({"USERNAME": name}, name, client_id, client_secret),
    )
    if "AuthenticationResult" not in done:
        raise SignInError(f"Cognito asked for {done.get('ChallengeName')!r} after MFA setup")
    return secret
