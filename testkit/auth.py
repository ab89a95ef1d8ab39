"""A real token issuer for tests: RSA keys generated here, a JWKS HTTP server on 127.0.0.1
serving their public halves, and Cognito-shaped access tokens signed with them (PyJWT).

    issuer = Issuer.start()            # its own JWKS server thread on a free port
    issuer.token(sub="dev-user-1")     # a valid access token; keyword arguments change claims
    issuer.settings()                  # the service settings that trust it (local stage)
    issuer.rotate()                    # a new key, published first (like Cognito)
    issuer.stop()                      # the JWKS endpoint goes away (connection refused)

`default_issuer()` is one process-wide Issuer that the service fixtures trust by default.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from service.auth.devkeys import dev_sub, public_jwk

CLIENT_ID = "test-app-client"
ADMIN_GROUP = "fyntrix-admin"
JWKS_PATH = "/pool/.well-known/jwks.json"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(f"test-{uuid.uuid4().hex[:12]}", key)

    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.private, kid=self.kid)


class _Handler(BaseHTTPRequestHandler):
    server: _JwksHttpServer

    def do_GET(self) -> None:
        owner = self.server.issuer
        owner.fetches += 1
        if owner.delay_s:
            time.sleep(owner.delay_s)
        if self.path != JWKS_PATH:
            self.send_error(404)
            return
        body = json.dumps({"keys": [k.jwk() for k in owner.published]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _JwksHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    issuer: Issuer


class Issuer:
    def __init__(self) -> None:
        self.signing = SigningKey.generate()
        self.published: list[SigningKey] = [self.signing]
        self.fetches = 0  # JWKS requests served
        self.delay_s = 0.0  # seconds each JWKS request stalls (to test the fetch timeout)
        self._server: _JwksHttpServer | None = None
        self.port = 0

    @classmethod
    def start(cls) -> Issuer:
        issuer = cls()
        server = _JwksHttpServer(("127.0.0.1", 0), _Handler)
        server.issuer = issuer
        issuer._server = server
        issuer.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="jwks", daemon=True).start()
        return issuer

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/pool"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}{JWKS_PATH}"

    def settings(self) -> dict[str, Any]:
        """Service settings (field names) that trust this issuer."""
        return {
            "app_stage": "local",
            "auth_issuer": self.issuer,
            "auth_jwks_url": self.jwks_url,
            "auth_client_ids": (CLIENT_ID,),
            "auth_admin_group": ADMIN_GROUP,
        }

    def env(self) -> dict[str, str]:
        """The same, as environment variables for `python -m service`."""
        return {
            "APP_STAGE": "local",
            "AUTH_ISSUER": self.issuer,
            "AUTH_JWKS_URL": self.jwks_url,
            "AUTH_CLIENT_IDS": CLIENT_ID,
            "AUTH_ADMIN_GROUP": ADMIN_GROUP,
        }

    def rotate(self) -> SigningKey:
        """Publish a new key and sign with it from now on (the old one stays published)."""
        self.signing = SigningKey.generate()
        self.published.append(self.signing)
        return self.signing

    def token(
        self,
        *,
        sub: str = "dev-user-1",
        admin: bool = False,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        algorithm: str = "RS256",
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        """An access token as Cognito issues one; `claims` override or add claims, `drop`
        removes them, `key` signs with another key (its kid in the header)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": sub,
            "iss": self.issuer,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
            "jti": uuid.uuid4().hex,
            "username": sub,
        }
        if admin:
            body["cognito:groups"] = [ADMIN_GROUP]
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        signer = key or self.signing
        head = {"kid": signer.kid, **(headers or {})}
        return jwt.encode(body, signer.private, algorithm=algorithm, headers=head)

    def user_token(self, user_id: int, **claims: Any) -> str:
        """A token whose sub the demo seed links to `user_id`."""
        return self.token(sub=dev_sub(user_id), **claims)

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


_default: Issuer | None = None
_default_lock = threading.Lock()


def default_issuer() -> Issuer:
    """One Issuer per test process (a daemon thread; it ends with the process)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Issuer.start()
        return _default
