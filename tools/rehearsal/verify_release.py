"""Checks of the release a deploy shipped: both images in the project's repository, tagged for
the stage (so the lifecycle rules never expire them), the task running them, and Redis's
restart policy. Through the AWS APIs, so they hold against a real account too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.config import StageConfig
from infra.config.names import stage_image_tag
from infra.task_design import APP_CONTAINER, REDIS_CONTAINER
from tools.release import build_tags


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def verify_release(
    rec: Any, *, config: StageConfig, session: Any, containers: Callable[[], dict[str, Any]]
) -> None:
    """Adds the release's checks to `rec` (tools/rehearsal/verify.py's recorder)."""
    ecr = session.client("ecr")
    repository = config.repository_name

    def digest(tag: str) -> str:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
        return str(found["imageDetails"][0]["imageDigest"])

    def stage_tags() -> str:
        tagged = []
        for build_tag in build_tags(config.app.image_tag):
            stage_tag = stage_image_tag(config.stage, build_tag)
            _expect(digest(stage_tag) == digest(build_tag), f"{stage_tag} is not {build_tag}")
            tagged.append(stage_tag)
        return f"{', '.join(tagged)} on the deployed digests: never expired"

    rec.add("registry: both images tagged for the stage", "api", stage_tags)

    def images() -> str:
        c = containers()
        uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0][
            "repositoryUri"
        ]
        app_tag, redis_tag = build_tags(config.app.image_tag)
        _expect(c[APP_CONTAINER]["image"] == f"{uri}:{app_tag}", c[APP_CONTAINER]["image"])
        _expect(c[REDIS_CONTAINER]["image"] == f"{uri}:{redis_tag}", c[REDIS_CONTAINER]["image"])
        return f"app :{app_tag}, redis :{redis_tag} from {repository}"

    rec.add("task: both images from the project repository", "api", images)

    def restart_policy() -> str:
        redis = containers()[REDIS_CONTAINER]
        policy = redis.get("restartPolicy", {})
        period = config.redis.restart_attempt_period_s
        _expect(
            policy == {"enabled": True, "restartAttemptPeriod": period}, f"restartPolicy {policy}"
        )
        _expect(redis.get("essential") is True, "redis is not essential")
        _expect("restartPolicy" not in containers()[APP_CONTAINER], "app has a restart policy")
        return f"redis restarts in its task after {period} s up; essential"

    rec.add("task: redis restart policy", "api", restart_policy)
