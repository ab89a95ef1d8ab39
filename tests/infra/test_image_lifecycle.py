"""The shared repository's lifecycle rules never expire an image a stage runs or can roll back to.

GIVEN the synthesized lifecycle policy, evaluated as ECR evaluates it (testkit/ecr_lifecycle.py)
WHEN histories of pushes and deploys are walked (every build pushes the app image `<tag>` and the
Redis image `redis-<tag>`; every deploy adds `<stage>-<tag>` to both, as `tools.release
tag-stage` does) and the policy runs after every event
THEN the images each stage runs, and those of its previous deploy (its rollback target), are
never expired, while builds no stage was deployed with still are.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import pytest

from infra.config import STAGES
from infra.config.names import redis_image_tag, stage_image_tag
from infra.constructs.registry import STAGE_IMAGE_CEILING
from testkit.ecr_lifecycle import (
    DAY_S,
    Image,
    PolicyError,
    Rule,
    expired,
    parse_policy,
    selecting_rule,
)
from tests.infra.conftest import Synth

HOUR_S = 3600


def synthesized_policy(synth: Synth) -> tuple[str, list[Rule]]:
    (repo,) = synth.registry_template.find_resources("AWS::ECR::Repository").values()
    text = repo["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]
    return text, parse_policy(text)


@pytest.fixture(scope="module")
def rules(dev: Synth) -> list[Rule]:
    return synthesized_policy(dev)[1]


@dataclass
class History:
    """A repository under the policy: pushes, stage deploys, and the policy run after each."""

    rules: list[Rule]
    now_s: float = 0.0
    builds: int = 0
    images: dict[str, Image] = field(default_factory=dict)  # digest -> image
    deploys: dict[str, list[str]] = field(default_factory=dict)  # stage -> release tags
    lost: list[str] = field(default_factory=list)

    def digest(self, tag: str) -> str | None:
        return next((d for d, i in self.images.items() if tag in i.tags), None)

    def push(self) -> str:
        """One build: the app and the Redis image, one release tag."""
        self.builds += 1
        tag = f"{self.builds:07x}"
        for name in (tag, redis_image_tag(tag)):
            self.images[f"sha256:{name}"] = Image(f"sha256:{name}", frozenset({name}), self.now_s)
        self.advance(HOUR_S)
        return tag

    def deploy(self, stage: str, tag: str) -> None:
        """tag-stage, then the deploy: both images of the release get the stage's tag."""
        for build_tag in (tag, redis_image_tag(tag)):
            digest = self.digest(build_tag)
            assert digest is not None, f"{build_tag} was expired before {stage} deployed it"
            image = self.images[digest]
            tags = image.tags | {stage_image_tag(stage, build_tag)}
            self.images[digest] = Image(digest, tags, image.pushed_at_s)
        self.deploys.setdefault(stage, []).append(tag)
        self.advance(HOUR_S)

    def advance(self, seconds: float) -> None:
        self.now_s += seconds
        for digest in expired(self.rules, self.images.values(), self.now_s):
            gone = self.images.pop(digest)
            if digest in self.protected():
                self.lost.append(f"{sorted(gone.tags)} at hour {self.now_s / HOUR_S:.0f}")

    def protected(self) -> set[str]:
        """Digests every stage runs (its last deploy) or rolls back to (the one before)."""
        out = set()
        for tags in self.deploys.values():
            for tag in tags[-2:]:
                out |= {f"sha256:{tag}", f"sha256:{redis_image_tag(tag)}"}
        return out

    def assert_nothing_lost(self) -> None:
        assert not self.lost, f"expired while a stage runs or can roll back to it: {self.lost}"
        missing = sorted(d for d in self.protected() if d not in self.images)
        assert not missing, f"gone: {missing}"


def test_rule_selection_per_tag_prefix(rules: list[Rule]) -> None:
    """Each kind of tag is selected by the rule meant for it; only the stage rules (which keep
    up to STAGE_IMAGE_CEILING images) can ever expire a stage-tagged image."""
    by_priority = {r.priority: r for r in rules}
    for stage in STAGES:
        for build_tag in ("0a1b2c3", redis_image_tag("0a1b2c3")):
            tags = {build_tag, stage_image_tag(stage, build_tag)}
            rule = by_priority[selecting_rule(rules, tags) or 0]
            assert rule.patterns == (f"{stage}-*",), (tags, rule)
            assert rule.count_number == STAGE_IMAGE_CEILING
    both = {"0a1b2c3", "dev-0a1b2c3", "prod-0a1b2c3"}
    assert by_priority[selecting_rule(rules, both) or 0].patterns == ("prod-*",)
    untagged = by_priority[selecting_rule(rules, ()) or 0]
    assert (untagged.tag_status, untagged.count_type) == ("untagged", "sinceImagePushed")
    for build_only in ({"0a1b2c3"}, {redis_image_tag("0a1b2c3")}):
        rule = by_priority[selecting_rule(rules, build_only) or 0]
        assert (rule.patterns, rule.count_type) == (("*",), "imageCountMoreThan"), rule


def test_forty_pushes_after_a_prod_deploy_keep_the_images_prod_runs(rules: list[Rule]) -> None:
    history = History(rules)
    release = history.push()
    history.deploy("dev", release)
    history.deploy("prod", release)
    for _ in range(40):
        history.deploy("dev", history.push())
    history.assert_nothing_lost()
    assert history.digest(stage_image_tag("prod", release)) == f"sha256:{release}"


def test_dev_and_prod_at_different_builds_keep_both(rules: list[Rule]) -> None:
    history = History(rules)
    releases = [history.push() for _ in range(5)]
    history.deploy("prod", releases[1])
    history.deploy("dev", releases[4])
    for _ in range(60):
        history.push()  # builds nobody deploys
    history.assert_nothing_lost()


def test_the_previous_deploy_stays_for_a_rollback(rules: list[Rule]) -> None:
    history = History(rules)
    first, second = history.push(), history.push()
    history.deploy("prod", first)
    history.deploy("prod", second)
    for _ in range(45):
        history.deploy("dev", history.push())
    history.assert_nothing_lost()  # `first` is prod's rollback target


def test_a_rollback_to_an_old_build_keeps_it_and_the_build_it_replaced(
    rules: list[Rule],
) -> None:
    """Expiry goes by push time, and a new tag does not change it: prod rolled back to a build
    older than thirty others must still find it, and the one it replaced."""
    history = History(rules)
    releases = []
    for _ in range(20):
        releases.append(history.push())
        history.deploy("prod", releases[-1])
    history.deploy("prod", releases[2])
    for _ in range(60):
        history.deploy("dev", history.push())
    history.assert_nothing_lost()


@pytest.mark.parametrize("seed", range(6))
def test_random_histories_never_lose_a_stage_image(rules: list[Rule], seed: int) -> None:
    history = History(rules)
    rng = random.Random(seed)
    history.deploy("prod", history.push())
    for _ in range(300):
        action = rng.random()
        if action < 0.5:
            history.push()
        elif action < 0.8:
            history.deploy("dev", f"{history.builds:07x}")
        elif action < 0.9:
            deployed = history.deploys.get("dev", [])
            if deployed:
                history.deploy("prod", rng.choice(deployed))
        else:
            history.advance(rng.choice([HOUR_S, DAY_S, 30 * DAY_S]))
    history.assert_nothing_lost()


def test_builds_no_stage_ran_still_expire(dev: Synth, rules: list[Rule]) -> None:
    history = History(rules)
    prod = history.push()
    history.deploy("prod", prod)
    for _ in range(100):
        history.push()
    kept = dev.config.image_retention_count
    assert len(history.images) == kept + 2, sorted(i for i in history.images)
    history.images["sha256:orphan"] = Image("sha256:orphan", frozenset(), history.now_s)
    history.advance(DAY_S + HOUR_S)
    assert "sha256:orphan" not in history.images
    history.assert_nothing_lost()


# ---- the evaluator against the ECR User Guide's worked examples -----------------------------


def _policy(*selections: dict[str, object]) -> list[Rule]:
    rules = [
        {"rulePriority": n, "selection": s, "action": {"type": "expire"}}
        for n, s in enumerate(selections, start=1)
    ]
    return parse_policy(json.dumps({"rules": rules}))


def _count(prefixes: list[str], number: int) -> dict[str, object]:
    return {
        "tagStatus": "tagged",
        "tagPrefixList": prefixes,
        "countType": "imageCountMoreThan",
        "countNumber": number,
    }


def _images(*specs: tuple[str, list[str], int]) -> list[Image]:
    """(name, tags, pushed days ago), evaluated at day 100."""
    return [Image(name, frozenset(tags), (100 - days) * DAY_S) for name, tags, days in specs]


GUIDE_REPOSITORY = _images(
    ("A", ["beta-1", "prod-1"], 10), ("B", ["beta-2", "prod-2"], 9), ("C", ["beta-3"], 8)
)


def test_guide_multiple_rules_example_a() -> None:
    rules = _policy(_count(["prod"], 1), _count(["beta"], 1))
    assert sorted(expired(rules, GUIDE_REPOSITORY, 100 * DAY_S)) == ["A"]


def test_guide_multiple_rules_example_b() -> None:
    rules = _policy(_count(["beta"], 1), _count(["prod"], 1))
    assert sorted(expired(rules, GUIDE_REPOSITORY, 100 * DAY_S)) == ["A", "B"]


def test_guide_multiple_tags_in_one_rule_examples() -> None:
    by_age = _policy(
        {
            "tagStatus": "tagged",
            "tagPrefixList": ["alpha", "beta"],
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 5,
        }
    )
    images = _images(
        ("A", ["alpha-1"], 12),
        ("B", ["beta-1"], 11),
        ("C", ["alpha-2", "beta-2"], 10),
        ("D", ["alpha-3"], 4),
        ("E", ["beta-3"], 3),
        ("F", ["alpha-4", "beta-4"], 2),
    )
    assert sorted(expired(by_age, images, 100 * DAY_S)) == ["C"]
    by_count = _policy(_count(["alpha", "beta"], 1))
    not_exclusive = _images(
        ("A", ["alpha-1", "beta-1", "gamma-1"], 10),
        ("B", ["alpha-2", "beta-2"], 9),
        ("C", ["alpha-3", "beta-3", "gamma-2"], 8),
    )
    assert sorted(expired(by_count, not_exclusive, 100 * DAY_S)) == ["A", "B"]


def test_patterns_match_whole_tags_with_wildcards() -> None:
    rules = _policy(
        {
            "tagStatus": "tagged",
            "tagPatternList": ["*prod*"],
            "countType": "imageCountMoreThan",
            "countNumber": 1,
        }
    )
    images = _images(("A", ["repo-production"], 3), ("B", ["prod-team"], 2), ("C", ["pro-d"], 1))
    assert sorted(expired(rules, images, 100 * DAY_S)) == ["A"]


@pytest.mark.parametrize(
    ("selections", "problem"),
    [
        (
            [
                {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
                _count(["a"], 1),
            ],
            "highest priority",
        ),
        (
            [
                {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
                {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 2},
            ],
            "only one rule",
        ),
        ([{"tagStatus": "tagged", "countType": "imageCountMoreThan", "countNumber": 1}], "needs"),
        ([{**_count(["a"], 1), "tagPatternList": ["b*"]}], "needs"),
        ([{**_count([], 1), "tagPatternList": ["*a*b*c*d*e"]}], "wildcards"),
        ([{**_count(["a"], 1), "countUnit": "days"}], "countUnit"),
        ([_count(["a"], 0)], "countNumber"),
    ],
)
def test_the_evaluator_refuses_what_ecr_refuses(
    selections: list[dict[str, object]], problem: str
) -> None:
    with pytest.raises(PolicyError, match=problem):
        _policy(*selections)
