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

import os
from collections.abc import Mapping

from pydantic_settings import EnvSettingsSource

from service.secrets_env import SECRETS_JSON_ENV, parse_secrets_json


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
