"""`python -m tools.release tag-stage` against the local AWS emulator's ECR (moto, as `make up`
runs it): a deploy adds `<stage>-<build tag>` to the digests of both images of its release.

GIVEN an immutable repository holding a release's two images (pushed as `docker push` ends:
PutImage of their manifests)
WHEN a stage is tagged, again, or with an image missing
THEN both stage tags name the build's digests, a re-deploy changes nothing, and a missing image
or a stage tag on another digest is one clear error that tags nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from testkit.emulator import DUMMY_CREDENTIALS
from tests.ops.conftest import ROOT, image_manifest
from tools.release import ReleaseError, tag_stage

REGION = "us-east-1"


@pytest.fixture
def ecr(emulator: str) -> Any:
    reset = f"{emulator}/moto-api/reset"
    request = urllib.request.Request(reset, data=b"{}", method="POST")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (loopback URL we built)
        pass
    creds = {k.lower(): v for k, v in DUMMY_CREDENTIALS.items()}
    client = boto3.client("ecr", region_name=REGION, endpoint_url=emulator, **creds)
    client.create_repository(repositoryName="fyntrix-app", imageTagMutability="IMMUTABLE")
    return client


def push(ecr: Any, tag: str) -> str:
    answer = ecr.put_image(
        repositoryName="fyntrix-app", imageManifest=image_manifest(tag), imageTag=tag
    )
    return str(answer["image"]["imageId"]["imageDigest"])


def tags_of(ecr: Any, digest: str) -> set[str]:
    (detail,) = ecr.describe_images(
        repositoryName="fyntrix-app", imageIds=[{"imageDigest": digest}]
    )["imageDetails"]
    return set(detail.get("imageTags", []))


def test_both_images_of_the_release_get_the_stage_tag_once(ecr: Any) -> None:
    app, redis = push(ecr, "0a1b2c3"), push(ecr, "redis-0a1b2c3")
    done = tag_stage(ecr, repository="fyntrix-app", stage="prod", release_tag="0a1b2c3")
    assert [(t.stage_tag, t.digest, t.added) for t in done] == [
        ("prod-0a1b2c3", app, True),
        ("prod-redis-0a1b2c3", redis, True),
    ]
    assert tags_of(ecr, app) == {"0a1b2c3", "prod-0a1b2c3"}
    assert tags_of(ecr, redis) == {"redis-0a1b2c3", "prod-redis-0a1b2c3"}
    # A re-deploy of the same build (tags are immutable): nothing to do, no error.
    again = tag_stage(ecr, repository="fyntrix-app", stage="prod", release_tag="0a1b2c3")
    assert [t.added for t in again] == [False, False]
    # Another stage deploys the same build: its own tag beside prod's.
    tag_stage(ecr, repository="fyntrix-app", stage="dev", release_tag="0a1b2c3")
    assert tags_of(ecr, app) == {"0a1b2c3", "prod-0a1b2c3", "dev-0a1b2c3"}


def test_a_release_missing_an_image_tags_nothing(ecr: Any) -> None:
    app = push(ecr, "0a1b2c3")  # the Redis image was never pushed
    with pytest.raises(ReleaseError, match=r"fyntrix-app:redis-0a1b2c3 is not in the registry"):
        tag_stage(ecr, repository="fyntrix-app", stage="dev", release_tag="0a1b2c3")
    assert tags_of(ecr, app) == {"0a1b2c3"}


def test_a_stage_tag_is_never_moved_to_another_digest(ecr: Any) -> None:
    push(ecr, "0a1b2c3")
    push(ecr, "redis-0a1b2c3")
    # Someone pushed an unrelated image under the stage tag the deploy would add.
    other = push(ecr, "dev-0a1b2c3")
    with pytest.raises(ReleaseError, match=rf"dev-0a1b2c3 names {other}, not 0a1b2c3's"):
        tag_stage(ecr, repository="fyntrix-app", stage="dev", release_tag="0a1b2c3")


def test_the_command_line_tags_the_configured_repository(
    ecr: Any, emulator: str, tmp_path: Path
) -> None:
    # prod's stage file as an operator fills it (the committed one holds placeholders)
    filled = tmp_path / "prod.toml"
    filled.write_text(
        'region = "us-east-1"\n'
        'certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/'
        '12345678-1234-1234-1234-123456789012"\n'
        'domain_name = "api.fyntrix.example"\n'
    )
    push(ecr, "0a1b2c3")
    push(ecr, "redis-0a1b2c3")
    env = {
        **os.environ,
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": emulator,
        "AWS_REGION": REGION,
    }
    env.pop("AWS_PROFILE", None)

    def run(tag: str, stage_file: Path = filled) -> subprocess.CompletedProcess[str]:
        argv = ["-m", "tools.release", "tag-stage", "--stage", "prod", "--image-tag", tag]
        argv += ["--stage-file", str(stage_file)]
        return subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = run("0a1b2c3")
    assert ok.returncode == 0, ok.stderr
    assert "fyntrix-app:prod-redis-0a1b2c3 -> sha256:" in ok.stdout
    missing = run("9f8e7d6")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: fyntrix-app:9f8e7d6 is not in the registry")
    refused = run("latest")  # prod never deploys `latest`: the config says so first
    assert refused.returncode == 2
    assert "app.image_tag" in refused.stderr
    # A stage that may not deploy gets no stage tag: the committed placeholders are refused
    placeholders = run("0a1b2c3", ROOT / "stages" / "prod.toml")
    assert placeholders.returncode == 2
    assert "invalid setting `certificate_arn` in stages/prod.toml" in placeholders.stderr
