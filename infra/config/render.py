"""The stage's environment in the Render Blueprint (`render.yaml`, generators/render_blueprint.py).

Render runs the same design as the ECS task on two hosts of Render's private network. These
settings choose where (the region), what holds the cache (the generated Redis private service,
or Render's managed Key Value), where the source of truth lives (a DATABASE_URL you give, or a
Render Postgres the Blueprint creates) and when a push deploys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from infra.config.spec import one_of, setting, settings_class

# Render's regions (its Blueprint schema's enum), and the AWS region in the same place: a stage
# whose `region` is one of these gets that Render region unless `render.region` says otherwise.
RENDER_REGIONS: Final = ("oregon", "ohio", "virginia", "frankfurt", "singapore")
RENDER_REGION_OF_AWS_REGION: Final[Mapping[str, str]] = {
    "us-west-2": "oregon",
    "us-east-2": "ohio",
    "us-east-1": "virginia",
    "eu-central-1": "frankfurt",
    "ap-southeast-1": "singapore",
}
CACHE_CHOICES: Final = ("private-service", "keyvalue")
DATABASE_CHOICES: Final = ("external", "render-postgres")
AUTO_DEPLOY_TRIGGERS: Final = ("commit", "checksPass", "off")
# Paid Key Value and Postgres instance types (render.com/pricing); free ones are left out: a
# free Postgres expires, and both stop or lose data in ways a deployed stage must not.
KEYVALUE_PLANS: Final = ("starter", "standard", "pro", "pro plus")
POSTGRES_PLANS: Final = (
    "basic-256mb", "basic-1gb", "basic-4gb", "pro-4gb", "pro-8gb", "pro-16gb", "pro-32gb",
    "pro-64gb", "pro-128gb", "pro-192gb", "pro-256gb", "pro-384gb", "pro-512gb",
)  # fmt: skip
POSTGRES_MAJOR_VERSION: Final = "16"


@settings_class
class RenderSettings:
    """The stage's environment in `render.yaml`."""

    region: str | None = setting(
        "Render region of every service of the stage (one private network per region); "
        "unset: the one in the same place as `region` (us-east-1 virginia, us-east-2 ohio, "
        "us-west-2 oregon, eu-central-1 frankfurt, ap-southeast-1 singapore)",
        default=None,
        rules=[one_of(RENDER_REGIONS, "{value!r} is not a Render region", "use one of {choices}")],
    )
    cache: str = setting(
        "`private-service`: Redis built from service/Dockerfile.redis with the sidecar's exact "
        "settings and a generated password; `keyvalue`: Render Key Value (managed, no image to "
        "build; its plan sets maxmemory, and internal clients connect without a password)",
        default="private-service",
        rules=[one_of(CACHE_CHOICES, "{value!r} is not a cache choice", "use one of {choices}")],
    )
    keyvalue_plan: str = setting(
        "Key Value instance type with `cache = keyvalue` (its memory is the cache's maxmemory)",
        default="starter",
        rules=[
            one_of(KEYVALUE_PLANS, "{value!r} is not a paid Key Value plan", "use one of {choices}")
        ],
    )
    database: str = setting(
        "`external`: DATABASE_URL is prompted for when the Blueprint is applied (required in "
        "prod); `render-postgres`: the Blueprint creates a Render Postgres (private network "
        "only) and wires DATABASE_URL to it",
        default="external",
        rules=[
            one_of(DATABASE_CHOICES, "{value!r} is not a database choice", "use one of {choices}")
        ],
    )
    postgres_plan: str = setting(
        "Render Postgres instance type with `database = render-postgres`",
        default="basic-256mb",
        rules=[
            one_of(POSTGRES_PLANS, "{value!r} is not a paid Postgres plan", "use one of {choices}")
        ],
    )
    auto_deploy: str = setting(
        "when a push deploys the stage's services (only the ones whose files changed: "
        "buildFilter): `commit`, `checksPass` (after the commit's CI checks pass) or `off` "
        "(deploy from the Dashboard or a deploy hook)",
        default="checksPass",
        rules=[
            one_of(
                AUTO_DEPLOY_TRIGGERS,
                "{value!r} is not a Render auto-deploy trigger",
                "use one of {choices}",
            )
        ],
    )

    def region_for(self, aws_region: str) -> str | None:
        """The Render region: the setting, else the one beside `aws_region` (None: none is)."""
        return self.region or RENDER_REGION_OF_AWS_REGION.get(aws_region)
