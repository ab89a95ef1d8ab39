"""`make up`'s release: both images pushed to the emulator's registry and tagged for the stage
before the service deploy, as on AWS (docs/deploy.md: `docker push` of both images, then
`make deploy`, which runs `python -m tools.release tag-stage` before `cdk deploy --all`).

The emulator stores no layers, so each image arrives as `docker push` ends: PutImage of its
manifest, whose config digest is the local image's id. RUNTIME=containers then runs the local
image that the deployed task definition's tag names in the emulator, which is what a pull would
fetch. With RUNTIME=processes no image is built: the manifest of an empty image stands for
each, so the tagging runs and is checked all the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from infra.config import StageConfig
from infra.config.names import redis_image_tag
from tools.release import ReleaseError, Tagged, tag_stage

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
# Layers by their uncompressed digests (what a local image records): the emulator never
# fetches them, a real push would send compressed ones.
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
# The release tag `make up` deploys when IMAGE_TAG is not given and no image is built.
PLACEHOLDER_TAG = "rehearsal"


def manifest(config_digest: str, layer_digests: list[str]) -> str:
    """An image manifest as `docker push` sends it (sizes are not known locally: 0)."""
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": 0, "digest": config_digest},
        "layers": [{"mediaType": DOCKER_LAYER, "size": 0, "digest": d} for d in layer_digests],
    }
    return json.dumps(document, separators=(",", ":"))


def local_manifest(attrs: Mapping[str, Any]) -> str:
    """The manifest of a local image (`docker inspect` attributes)."""
    return manifest(str(attrs["Id"]), list(attrs.get("RootFS", {}).get("Layers", [])))


def placeholder_manifest(name: str) -> str:
    """An empty image standing for `name` where none is built (RUNTIME=processes)."""
    stand_in = hashlib.sha256(f"no {name} image built (RUNTIME=processes)".encode()).hexdigest()
    return manifest(f"sha256:{stand_in}", [f"sha256:{stand_in}"])


def release_tag(given: str | None, manifests: Mapping[str, str] | None) -> str:
    """IMAGE_TAG when given; else one named after the images' content, so a rebuilt image is a
    new release (tags are immutable) and an unchanged one redeploys the same."""
    if given:
        return given
    if manifests is None:
        return PLACEHOLDER_TAG
    content = "".join(manifests[name] for name in sorted(manifests))
    return f"{PLACEHOLDER_TAG}-{hashlib.sha256(content.encode()).hexdigest()[:12]}"


def push(ecr: Any, repository: str, tag: str, image_manifest: str) -> str:
    """PutImage, as `docker push` ends; the digest is the manifest's, as the registry computes
    it. A tag already on this very manifest is fine (a rerun); on another one it is not."""
    digest = f"sha256:{hashlib.sha256(image_manifest.encode()).hexdigest()}"
    try:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image_manifest,
            imageManifestMediaType=DOCKER_MANIFEST,
            imageTag=tag,
            imageDigest=digest,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "ImageAlreadyExistsException",
            "ImageTagAlreadyExistsException",
        ):
            raise
        (image,) = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": tag}])[
            "images"
        ]
        if image["imageManifest"] != image_manifest:
            raise ReleaseError(
                f"{repository}:{tag} already holds another image in the emulator (tags are "
                "immutable): pass a new IMAGE_TAG, or `make down` for a fresh emulator"
            ) from exc
    return digest


def publish_and_tag(
    session: Any,
    config: StageConfig,
    manifests: Mapping[str, str],
    say: Callable[[str, str], None],
) -> list[Tagged]:
    """Push both images of `config`'s release, then tag them for its stage."""
    ecr = session.client("ecr")
    tag = config.app.image_tag
    pushed = {
        build_tag: push(ecr, config.repository_name, build_tag, manifests[name])
        for name, build_tag in (("app", tag), ("redis", redis_image_tag(tag)))
    }
    say(
        "3/6 release",
        "pushed "
        + ", ".join(f"{config.repository_name}:{t} ({d[:19]})" for t, d in pushed.items()),
    )
    done = tag_stage(ecr, repository=config.repository_name, stage=config.stage, release_tag=tag)
    say(
        "3/6 release",
        "tag-stage: "
        + ", ".join(f"{t.stage_tag} ({'added' if t.added else 'already there'})" for t in done),
    )
    return done


def repository_exists(session: Any, name: str) -> bool:
    try:
        session.client("ecr").describe_repositories(repositoryNames=[name])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
            return False
        raise
    return True


def local_image_of(session: Any, image_uri: str) -> str:
    """The local image id a pull of `image_uri` (`<registry>/<repository>:<tag>`) would fetch
    from the emulator: its manifest's config digest."""
    repository, _, tag = image_uri.split("/", 1)[1].rpartition(":")
    answer = session.client("ecr").batch_get_image(
        repositoryName=repository, imageIds=[{"imageTag": tag}]
    )
    if not answer.get("images"):
        raise ReleaseError(f"{image_uri} is not in the emulator's registry: nothing to pull")
    return str(json.loads(answer["images"][0]["imageManifest"])["config"]["digest"])
