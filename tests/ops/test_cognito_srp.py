"""Cognito's SRP proof (tools/cognito_srp.py) against known answers.

The emulator does not verify SRP proofs, and Cognito cannot run here, so the arithmetic is
checked against an independent implementation: the expected values below were computed once by
pycognito 2024.5.1 (`AWSSRP.calculate_a` and `AWSSRP.process_challenge`, the SRP client many
Python projects sign in to Cognito with) from the same fixed inputs. The second vector has a
salt of odd hex length with its top bit set, a B with its top bit set (both padded) and a
two-digit day of the month.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from tools.cognito_srp import N, SrpChallenge, SrpClient

POOL_ID = "us-east-1_AbCdEf123"
USER_ID_FOR_SRP = "3c7d2f4e-1a2b-4c5d-8e9f-0a1b2c3d4e5f"
PASSWORD = "Smoke-Test-Pass-2026!"  # a test vector's input
PRIVATE_A = int(hashlib.sha256(b"fyntrix srp vector a").hexdigest() * 8, 16)
SECRET_BLOCK = base64.standard_b64encode(
    hashlib.sha512(b"fyntrix srp vector secret block").digest() * 3
).decode()
SRP_A_SHA256 = "5a5a75134fed69c84d0ae5ac8e4c2c8803369be37ded4867b76f23742c6f46ad"


def _b(seed: bytes) -> str:
    return f"{pow(2, int(hashlib.sha256(seed).hexdigest(), 16), N):x}"


VECTORS = [
    pytest.param(
        _b(b"fyntrix srp vector b"),
        hashlib.sha256(b"fyntrix srp vector salt").hexdigest()[:32],
        datetime(2026, 3, 3, 9, 4, 5, tzinfo=UTC),
        "Tue Mar 3 09:04:05 UTC 2026",
        "CEeXUXcC3KDoXOQkjiQYP82v1JwwwHyBpe6rZ78T4Bk=",
        id="short-day",
    ),
    pytest.param(
        _b(b"fyntrix srp vector b2"),
        "f" + hashlib.sha256(b"fyntrix srp vector salt 2").hexdigest()[:30],
        datetime(2026, 11, 23, 17, 0, 9, tzinfo=UTC),
        "Mon Nov 23 17:00:09 UTC 2026",
        "Il4FjrOA7l4JpbEJJpEvIgfwoi+jDTCeHE5ZIakw69A=",
        id="padded-salt-and-b",
    ),
]


def test_srp_a_matches_the_reference() -> None:
    client = SrpClient(POOL_ID, private_value=PRIVATE_A)
    assert hashlib.sha256(client.srp_a.encode()).hexdigest() == SRP_A_SHA256


@pytest.mark.parametrize(("srp_b", "salt", "now", "timestamp", "signature"), VECTORS)
def test_password_claim_matches_the_reference(
    srp_b: str, salt: str, now: datetime, timestamp: str, signature: str
) -> None:
    client = SrpClient(POOL_ID, private_value=PRIVATE_A)
    challenge = SrpChallenge(srp_b, salt, SECRET_BLOCK, USER_ID_FOR_SRP)
    answer = client.answer(challenge, PASSWORD, now=now)
    assert answer == {
        "TIMESTAMP": timestamp,
        "USERNAME": USER_ID_FOR_SRP,
        "PASSWORD_CLAIM_SECRET_BLOCK": SECRET_BLOCK,
        "PASSWORD_CLAIM_SIGNATURE": signature,
    }
    # AND a wrong password gives another signature: the proof depends on it
    wrong = client.answer(challenge, PASSWORD + "x", now=now)
    assert wrong["PASSWORD_CLAIM_SIGNATURE"] != signature


def test_a_b_of_zero_mod_n_is_refused() -> None:
    client = SrpClient(POOL_ID, private_value=PRIVATE_A)
    challenge = SrpChallenge(f"{N:x}", "ab", SECRET_BLOCK, USER_ID_FOR_SRP)
    with pytest.raises(ValueError, match="0 mod N"):
        client.answer(challenge, PASSWORD)


def test_each_sign_in_uses_a_new_private_value() -> None:
    assert SrpClient(POOL_ID).srp_a != SrpClient(POOL_ID).srp_a
