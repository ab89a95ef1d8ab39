"""Checks of the release a deploy shipped: both images in the project's repository, tagged for
the stage (so the lifecycle rules never expire them), the task running them, and Redis's
restart policy. Through the AWS APIs, so they hold against a real account too."""

from __future__ import annotations

from infra.config.names import stage_image_tag
from infra.task_design import APP_CONTAINER, REDIS_CONTAINER
from tools.rehearsal.checks import CheckList, Deployment, expect
from tools.release import build_tags

CHECKS = CheckList()


def _digest(d: Deployment, tag: str) -> str:
    found = d.client("ecr").describe_images(
        repositoryName=d.config.repository_name, imageIds=[{"imageTag": tag}]
    )
    return str(found["imageDetails"][0]["imageDigest"])


@CHECKS.add("registry: both images tagged for the stage", "api")
def stage_tags(d: Deployment) -> str:
    tagged = []
    for build_tag in build_tags(d.config.app.image_tag):
        stage_tag = stage_image_tag(d.config.stage, build_tag)
        expect(_digest(d, stage_tag) == _digest(d, build_tag), f"{stage_tag} is not {build_tag}")
        tagged.append(stage_tag)
    return f"{', '.join(tagged)} on the deployed digests: never expired"


@CHECKS.add("task: both images from the project repository", "api")
def images(d: Deployment) -> str:
    c, repository = d.containers(), d.config.repository_name
    found = d.client("ecr").describe_repositories(repositoryNames=[repository])
    uri = found["repositories"][0]["repositoryUri"]
    app_tag, redis_tag = build_tags(d.config.app.image_tag)
    expect(c[APP_CONTAINER]["image"] == f"{uri}:{app_tag}", c[APP_CONTAINER]["image"])
    expect(c[REDIS_CONTAINER]["image"] == f"{uri}:{redis_tag}", c[REDIS_CONTAINER]["image"])
    return f"app :{app_tag}, redis :{redis_tag} from {repository}"


@CHECKS.add("task: redis restart policy", "api")
def restart_policy(d: Deployment) -> str:
    containers = d.containers()
    redis = containers[REDIS_CONTAINER]
    policy = redis.get("restartPolicy", {})
    period = d.config.redis.restart_attempt_period_s
    expect(policy == {"enabled": True, "restartAttemptPeriod": period}, f"restartPolicy {policy}")
    expect(redis.get("essential") is True, "redis is not essential")
    expect("restartPolicy" not in containers[APP_CONTAINER], "app has a restart policy")
    return f"redis restarts in its task after {period} s up; essential"
