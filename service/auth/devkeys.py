"""The local dev issuer: one RSA key in a local file, its JWKS, and Cognito-shaped access tokens.

Only the `local` stage trusts it (settings refuse the dev issuer elsewhere). The service and
`python -m service.ops token` share the key through AUTH_DEV_KEY_PATH: whichever runs first
creates it (mode 0600); the service reads its public half as its JWKS, without any HTTP.

Imports only PyJWT and cryptography, so the ops CLI can mint without loading the app.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

_KEY_BITS = 2048
# Cognito access tokens live 60 minutes by default; so do local ones.
DEFAULT_TTL_S = 3600


def dev_sub(user_id: int) -> str:
    """The `sub` of local tokens for a user: the seed links these for the demo users."""
    return f"dev-user-{user_id}"


def load_or_create_key(path: str | Path) -> rsa.RSAPrivateKey:
    """The dev signing key at `path`, created first if missing (atomically: two processes
    starting together end up with the same key)."""
    target = Path(path)
    if not target.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            os.link(temp, target)  # fails if another process won the race: use theirs
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    loaded = serialization.load_pem_private_key(target.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{target} does not hold an RSA private key")
    return loaded


def key_id(key: rsa.RSAPrivateKey) -> str:
    """RFC 7638 thumbprint of the public key: a new key file gets a new kid by itself."""
    jwk = public_jwk(key, kid=None)
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey, *, kid: str | None) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(alg="RS256", use="sig")
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def jwks(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The JWKS document of the key, shaped like Cognito's."""
    return {"keys": [public_jwk(key, kid=key_id(key))]}


def mint(
    key: rsa.RSAPrivateKey,
    *,
    issuer: str,
    client_id: str,
    sub: str,
    groups: tuple[str, ...] = (),
    ttl_s: int = DEFAULT_TTL_S,
    now: float | None = None,
) -> str:
    """An access token with the claims Cognito puts in one (what the service checks)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": issuer,
        "client_id": client_id,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": issued,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": str(uuid.uuid4()),
        "username": sub,
    }
    if groups:
        claims["cognito:groups"] = list(groups)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": key_id(key)})
