"""`python -m tools.release tag-stage --stage prod --image-tag <tag>`: protect what a deploy ships.

Every deploy (`make deploy`, the deploy workflow, `make up`) runs this before `cdk deploy`: it
adds the tag `<stage>-<build tag>` to the digest of each image the stage is about to run (the
app's `<tag>` and Redis's `redis-<tag>`) with ECR's BatchGetImage and PutImage of the same
manifest, so nothing is pulled or pushed. The repository's lifecycle rules never expire an image
carrying a stage tag (infra/constructs/registry.py): the images a stage runs, and those of its
previous deploy (its rollback target), stay pullable however many builds are pushed after them.

Tags are immutable: a re-deploy of the same build finds its stage tag on the same digest, which
is fine; a stage tag on another digest, or a build that was never pushed, is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra.config import ConfigError, load_configured_stage, refuse_placeholders
from infra.config.names import redis_image_tag, stage_image_tag

# What BatchGetImage may answer with: the manifest as it was pushed, never converted.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
# PutImage of a tag that exists: the same digest (a re-deploy), or another one.
_TAG_EXISTS = ("ImageAlreadyExistsException", "ImageTagAlreadyExistsException")


class ReleaseError(RuntimeError):
    """What went wrong and what to do, in one message."""


@dataclass(frozen=True)
class Tagged:
    build_tag: str
    stage_tag: str
    digest: str
    added: bool  # False: the stage tag was already on this digest


def build_tags(release_tag: str) -> tuple[str, str]:
    """The two images of a release: the app's tag and the Redis image's."""
    return release_tag, redis_image_tag(release_tag)


def _image(ecr: Any, repository: str, tag: str) -> dict[str, Any] | None:
    answer = ecr.batch_get_image(
        repositoryName=repository,
        imageIds=[{"imageTag": tag}],
        acceptedMediaTypes=list(MANIFEST_MEDIA_TYPES),
    )
    images: list[dict[str, Any]] = answer.get("images", [])
    return images[0] if images else None


def pushed_image(ecr: Any, repository: str, build_tag: str) -> dict[str, Any]:
    """The image `build_tag` names; ReleaseError when it was never pushed (or expired)."""
    image = _image(ecr, repository, build_tag)
    if image is None:
        raise ReleaseError(
            f"{repository}:{build_tag} is not in the registry: build and push both images of "
            "the release first (docs/deploy.md, step 2), then deploy that tag"
        )
    return image


def tag_image(ecr: Any, repository: str, build_tag: str, stage_tag: str) -> Tagged:
    """Add `stage_tag` to the image `build_tag` names (idempotent)."""
    image = pushed_image(ecr, repository, build_tag)
    digest = str(image["imageId"]["imageDigest"])
    manifest = image["imageManifest"]
    media_type = image.get("imageManifestMediaType") or _media_type(manifest)
    try:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=manifest,
            imageManifestMediaType=media_type,
            imageTag=stage_tag,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _TAG_EXISTS:
            raise
        existing = _image(ecr, repository, stage_tag)
        found = str(existing["imageId"]["imageDigest"]) if existing else "nothing"
        if found != digest:
            raise ReleaseError(
                f"{repository}:{stage_tag} names {found}, not {build_tag}'s {digest}: a stage "
                "tag is never moved; deploy a new build tag"
            ) from exc
        return Tagged(build_tag, stage_tag, digest, added=False)
    return Tagged(build_tag, stage_tag, digest, added=True)


def _media_type(manifest: str) -> str:
    return str(json.loads(manifest).get("mediaType") or MANIFEST_MEDIA_TYPES[0])


def tag_stage(ecr: Any, *, repository: str, stage: str, release_tag: str) -> list[Tagged]:
    """Tag both images of `release_tag` for `stage`; both must exist before either is tagged."""
    for build_tag in build_tags(release_tag):
        pushed_image(ecr, repository, build_tag)
    return [
        tag_image(ecr, repository, build_tag, stage_image_tag(stage, build_tag))
        for build_tag in build_tags(release_tag)
    ]


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.release", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    tag = sub.add_parser("tag-stage", help="add <stage>-<build tag> to both images of a release")
    tag.add_argument("--stage", required=True)
    tag.add_argument("--image-tag", required=True, help="the release tag that was pushed")
    tag.add_argument("--stage-file", type=Path, help="default: stages/<stage>.toml")
    tag.add_argument(
        "--set", action="append", default=[], metavar="SETTING=VALUE", help="one-off override"
    )
    a = p.parse_args(list(argv))
    try:
        overrides = dict(item.partition("=")[::2] for item in a.set)
        # The registry's region is the stage's, from its stage file: the same one `cdk deploy`
        # deploys to (infra/config/stage_file.py), never the shell's.
        config, stage_file = load_configured_stage(
            a.stage, image_tag=a.image_tag, overrides=overrides, stage_file=a.stage_file
        )
        # A stage that may not deploy gets no stage tag either (the deploy would refuse it).
        refuse_placeholders(config, stage_file)
        import boto3

        ecr = boto3.client("ecr", region_name=config.region)
        done = tag_stage(
            ecr, repository=config.repository_name, stage=a.stage, release_tag=a.image_tag
        )
    except (ConfigError, ReleaseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except (ClientError, BotoCoreError) as exc:
        print(f"error: tagging the release for {a.stage} failed: {exc}", file=sys.stderr)
        return 1
    for t in done:
        state = "tagged" if t.added else "already tagged"
        print(f"{config.repository_name}:{t.stage_tag} -> {t.digest} ({state}, = {t.build_tag})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
