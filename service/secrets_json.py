"""The ECS secret the service receives whole: one JSON object of settings.

On ECS the task gets the stage's app secret as one variable, `APP_SECRETS`, instead of one
variable per JSON key. A key the secret does not hold is then simply unset (the setting's
default applies) rather than a task that cannot start, so keys can be added to the secret and
to the code that reads them in either order, and CloudFormation never writes the secret's
value (docs/deploy.md#secrets). Keys are setting names (`DATABASE_URL`); keys the service does
not know are ignored, so a key can be set before the code that reads it is deployed. A
variable set in the environment itself wins over the same key in `APP_SECRETS` (compose and
Render pass each secret as a variable of its own).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Final

from pydantic_settings import EnvSettingsSource

SECRETS_JSON_ENV: Final = "APP_SECRETS"


def parse_secrets_json(raw: str) -> dict[str, str]:
    """The settings `raw` holds. Raises ValueError naming the problem, never the value."""
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        # The position only: the text around it may be a credential.
        raise ValueError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}); it must be an object "
            'such as {"DATABASE_URL": "postgresql://..."}'
        ) from None
    if not isinstance(parsed, dict):
        raise ValueError('must be a JSON object such as {"DATABASE_URL": "postgresql://..."}')
    not_text = sorted(str(k) for k, v in parsed.items() if not isinstance(v, str))
    if not_text:
        raise ValueError(f"the value of {', '.join(not_text)} must be a JSON string")
    return {str(k): str(v) for k, v in parsed.items()}


class SecretsJsonSource(EnvSettingsSource):
    """Settings from `APP_SECRETS`, read like environment variables (same names, same parsing).

    An invalid `APP_SECRETS` supplies nothing here; the `app_secrets` setting's own validation
    reports it, naming the variable, through the service's usual invalid-setting exit."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        raw = os.environ.get(SECRETS_JSON_ENV, "")
        if not raw.strip():
            return {}
        try:
            secrets = parse_secrets_json(raw)
        except ValueError:
            return {}
        # Keys are matched the way environment variables are (case-insensitively here).
        return {k.lower(): v for k, v in secrets.items() if k.upper() != SECRETS_JSON_ENV}
