"""Cognito's USER_SRP_AUTH client side: the password proves itself without ever being sent.

Secure Remote Password (SRP-6a) as Cognito runs it: the 3072-bit group of RFC 5054 with g = 2,
SHA-256, the private value x derived from the pool's short name, the user's SRP id and the
password, and the session key derived with HKDF ("Caldera Derived Key"). The client sends
`A = g^a`, Cognito answers with its `B`, the salt and a secret block, and the client proves it
knows the password by signing the secret block and a timestamp with the shared key.

Pure arithmetic and hashing: `tools/cognito_sign_in.py` makes the two Cognito calls.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

# RFC 5054, appendix A: the 3072-bit group Cognito uses.
N_HEX: Final = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E34"
    "04DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5C"
    "B6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A"
    "69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA"
    "18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718399"
    "5497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBE"
    "F0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA0"
    "6D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB314"
    "3DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N: Final = int(N_HEX, 16)
G: Final = 2
_INFO: Final = b"Caldera Derived Key\x01"  # HKDF info, with the one block counter appended
_PRIVATE_BYTES: Final = 128


def _pad_hex(value: int) -> str:
    """The value as Cognito hashes it: even-length hex, with a 00 byte in front where the top
    bit is set (a positive two's-complement number)."""
    text = f"{value:x}"
    if len(text) % 2:
        return "0" + text
    return "00" + text if text[0] in "89abcdef" else text


def _hash_hex(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest()


_K: Final = int(_hash_hex("00" + N_HEX.lower() + _pad_hex(G)), 16)


@dataclass(frozen=True)
class SrpChallenge:
    """Cognito's PASSWORD_VERIFIER challenge parameters (SRP_B and SALT are hex)."""

    srp_b: str
    salt: str
    secret_block: str
    user_id_for_srp: str


class SrpClient:
    """One sign-in attempt: `srp_a` goes into InitiateAuth, `answer` into the challenge."""

    def __init__(self, pool_id: str, *, private_value: int | None = None) -> None:
        self.pool_name = pool_id.split("_", 1)[1]
        self._a = private_value or secrets.randbits(_PRIVATE_BYTES * 8)
        self._big_a = pow(G, self._a, N)
        if self._big_a % N == 0:  # pragma: no cover - probability 2**-3072
            raise ValueError("SRP: A is 0 mod N; start a new sign-in")

    @property
    def srp_a(self) -> str:
        return f"{self._big_a:x}"

    def _session_key(self, challenge: SrpChallenge, password: str) -> bytes:
        big_b = int(challenge.srp_b, 16)
        if big_b % N == 0:
            raise ValueError("SRP: Cognito's B is 0 mod N; refusing the challenge")
        u = int(_hash_hex(_pad_hex(self._big_a) + _pad_hex(big_b)), 16)
        if u == 0:
            raise ValueError("SRP: the scrambling parameter is 0; start a new sign-in")
        identity = f"{self.pool_name}{challenge.user_id_for_srp}:{password}".encode()
        salted = _pad_hex(int(challenge.salt, 16)) + hashlib.sha256(identity).hexdigest()
        x = int(_hash_hex(salted), 16)
        shared = pow(big_b - _K * pow(G, x, N), self._a + u * x, N)
        # HKDF-SHA256 (RFC 5869) with u as its salt, one 16-byte block of output.
        prk = hmac.new(bytes.fromhex(_pad_hex(u)), bytes.fromhex(_pad_hex(shared)), "sha256")
        return hmac.new(prk.digest(), _INFO, "sha256").digest()[:16]

    def answer(
        self, challenge: SrpChallenge, password: str, *, now: datetime | None = None
    ) -> dict[str, str]:
        """The PASSWORD_VERIFIER responses (without SECRET_HASH, which the caller adds)."""
        moment = now or datetime.now(UTC)
        # Cognito's format: day of month without a leading zero ("Tue Mar 3 09:04:05 UTC 2026").
        timestamp = moment.strftime(f"%a %b {moment.day} %H:%M:%S UTC %Y")
        message = (
            self.pool_name.encode()
            + challenge.user_id_for_srp.encode()
            + base64.standard_b64decode(challenge.secret_block)
            + timestamp.encode()
        )
        key = self._session_key(challenge, password)
        signature = base64.standard_b64encode(hmac.new(key, message, "sha256").digest())
        return {
            "TIMESTAMP": timestamp,
            "USERNAME": challenge.user_id_for_srp,
            "PASSWORD_CLAIM_SECRET_BLOCK": challenge.secret_block,
            "PASSWORD_CLAIM_SIGNATURE": signature.decode(),
        }
