"""APP_SECRETS (service/secrets_json.py): the ECS app secret, received whole as one variable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings, format_errors
from tests.service.test_settings import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]

SECRET = "postgresql://fyntrix:hunter2@db.internal:5432/fyntrix"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*DEFAULTS, "SQLITE_PATH", "AUTH_DEV_KEY_PATH"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_STAGE", "local")
    return monkeypatch


def test_its_keys_are_settings(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN the secret as an operator fills it: settings by their variable names, a key no
    # setting has yet (set ahead of the code that reads it), an empty value
    value = {
        "DATABASE_URL": SECRET,
        "market_data_api_key": "mkt-123",
        "NEXT_RELEASES_KEY": "x",
        "AWS_COGNITO_CLIENT_SECRET": "",
    }
    clean_env.setenv("APP_SECRETS", json.dumps(value))
    settings = Settings()
    # THEN each known key is its setting, the unknown one is ignored, empty means unset
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == SECRET
    assert settings.market_data_api_key is not None
    assert settings.market_data_api_key.get_secret_value() == "mkt-123"
    assert settings.aws_cognito_client_secret is None
    assert SECRET not in repr(settings)


def test_a_missing_key_is_an_unset_setting(clean_env: pytest.MonkeyPatch) -> None:
    # The secret as CloudFormation creates it: `{}`. The task starts with every default.
    clean_env.setenv("APP_SECRETS", "{}")
    settings = Settings()
    assert settings.database_url is None
    assert settings.source_kind == "sqlite"


def test_the_environment_wins_over_the_secret(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("APP_SECRETS", json.dumps({"MARKET_DATA_API_KEY": "from-secret"}))
    clean_env.setenv("MARKET_DATA_API_KEY", "from-env")
    settings = Settings()
    assert settings.market_data_api_key is not None
    assert settings.market_data_api_key.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"DATABASE_URL": "' + SECRET, "is not valid JSON (line 1, column 18)"),
        (json.dumps([SECRET]), "must be a JSON object"),
        (json.dumps({"REDIS_DB": 2, "DATABASE_URL": SECRET}), "the value of REDIS_DB must be"),
    ],
)
def test_an_invalid_secret_is_named_never_echoed(
    clean_env: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    clean_env.setenv("APP_SECRETS", raw)
    with pytest.raises(ValidationError) as caught:
        Settings()
    (line,) = format_errors(caught.value)
    assert line.startswith("invalid setting APP_SECRETS: ")
    assert message in line
    assert "hunter2" not in line


def test_the_service_refuses_to_start_with_an_invalid_secret() -> None:
    # As an ECS task would run it: exit status 2, one line naming APP_SECRETS, no value.
    env = {"PATH": "", "APP_STAGE": "local", "APP_SECRETS": '{"DATABASE_URL": "' + SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "invalid setting APP_SECRETS: is not valid JSON" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
