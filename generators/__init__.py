"""Deploy targets generated from the one stage config: `render.yaml`, `docker-compose.yml`,
`.env.example`, `ecs-task-definition.json` and `service/redis.conf`. `python -m generators`
writes them, `--check` reports stale ones; `python -m generators.docs` does the same for the
reference pages under `docs/reference/`.
"""

from generators.generate import (
    TARGET_FILES,
    TargetConfigs,
    TargetValidationError,
    check,
    default_configs,
    render_all,
    write_all,
)

__all__ = [
    "TARGET_FILES",
    "TargetConfigs",
    "TargetValidationError",
    "check",
    "default_configs",
    "render_all",
    "write_all",
]
