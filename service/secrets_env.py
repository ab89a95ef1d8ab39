"""The app secret's contract, standard library only: the variable ECS fills and its format.

The deploy code (infra, generators, the rehearsal) names the variable from here, so it loads
none of the service's frameworks; service/secrets_json.py reads it into the settings.
"""

from __future__ import annotations

import json
from typing import Final

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
