"""An evaluator of Amazon ECR lifecycle policies, for tests: what a policy would expire.

It follows the ECR User Guide ("Lifecycle policy properties", "How lifecycle policies work",
"Examples of lifecycle policies"), whose worked examples tests/infra/test_image_lifecycle.py
replays:

* rules apply by `rulePriority`, lowest first; an image is expired by exactly one rule or none;
* a rule *selects* images by tag status: `untagged` (no tag), `any` (every image) or `tagged`
  with a `tagPrefixList` (every prefix begins some tag of the image) or a `tagPatternList`
  (every pattern, `*` matching any characters, matches some tag of the image);
* among the images a rule selects, ordered by push time (newest first), `imageCountMoreThan N`
  marks all but the newest N, `sinceImagePushed N days` marks those pushed more than N days ago;
* a rule counts every image it selects, including images a higher-priority rule expires, but
  never expires an image a higher-priority rule selects: "an image that matches the tagging
  requirements of a rule cannot be expired by a rule with a lower priority";
* an expired image is deleted with all its tags.

Only the `expire` action and single-manifest images (what `docker build --provenance=false`
pushes) are modelled; `parse_policy` refuses what ECR refuses at PutLifecyclePolicy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DAY_S = 86_400
_MAX_WILDCARDS = 4


class PolicyError(ValueError):
    """A policy ECR would refuse."""


@dataclass(frozen=True)
class Image:
    digest: str
    tags: frozenset[str]
    pushed_at_s: float


@dataclass(frozen=True)
class Rule:
    priority: int
    tag_status: str  # tagged | untagged | any
    prefixes: tuple[str, ...]
    patterns: tuple[str, ...]
    count_type: str  # imageCountMoreThan | sinceImagePushed
    count_number: int

    def selects(self, image: Image) -> bool:
        """Whether the rule's tag selection matches the image."""
        if self.tag_status == "any":
            return True
        if self.tag_status == "untagged":
            return not image.tags
        if self.prefixes:
            return all(any(t.startswith(p) for t in image.tags) for p in self.prefixes)
        return all(any(_wildcard(p).fullmatch(t) for t in image.tags) for p in self.patterns)

    def marks(self, selected: list[Image], now_s: float) -> list[Image]:
        """The selected images this rule would expire, before higher rules' protection."""
        newest_first = sorted(selected, key=lambda i: i.pushed_at_s, reverse=True)
        if self.count_type == "imageCountMoreThan":
            return newest_first[self.count_number :]
        return [i for i in newest_first if now_s - i.pushed_at_s > self.count_number * DAY_S]


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def parse_policy(text: str) -> list[Rule]:
    """The rules of a lifecycle policy, by priority; PolicyError for what ECR refuses."""
    document = json.loads(text)
    rules = sorted((_rule(r) for r in document["rules"]), key=lambda r: r.priority)
    priorities = [r.priority for r in rules]
    _require(len(set(priorities)) == len(priorities), f"rule priorities repeat: {priorities}")
    anys = [r for r in rules if r.tag_status == "any"]
    _require(
        not anys or (rules[-1].tag_status == "any" and len(anys) == 1),
        "a rule with tagStatus any must be the one with the highest priority",
    )
    untagged = [r for r in rules if r.tag_status == "untagged"]
    _require(len(untagged) <= 1, "only one rule may select untagged images")
    lists = [r.prefixes or r.patterns for r in rules if r.tag_status == "tagged"]
    _require(len(set(lists)) == len(lists), "two rules select the same tag list")
    return rules


def _rule(raw: Mapping[str, Any]) -> Rule:
    selection, action = raw["selection"], raw["action"]
    _require(action == {"type": "expire"}, f"unsupported action {action}")
    status = selection["tagStatus"]
    _require(status in ("tagged", "untagged", "any"), f"tagStatus {status!r}")
    prefixes = tuple(selection.get("tagPrefixList", ()))
    patterns = tuple(selection.get("tagPatternList", ()))
    if status == "tagged":
        _require(bool(prefixes) != bool(patterns), "a tagged rule needs prefixes or patterns")
    else:
        _require(not prefixes and not patterns, f"tagStatus {status} takes no tag list")
    _require(all(p.count("*") <= _MAX_WILDCARDS for p in patterns), "more than 4 wildcards")
    count_type, number = selection["countType"], selection["countNumber"]
    _require(isinstance(number, int) and number >= 1, f"countNumber {number!r}")
    if count_type == "sinceImagePushed":
        _require(selection.get("countUnit") == "days", "sinceImagePushed needs countUnit days")
    else:
        _require(count_type == "imageCountMoreThan", f"countType {count_type!r}")
        _require("countUnit" not in selection, "imageCountMoreThan takes no countUnit")
    return Rule(
        priority=int(raw["rulePriority"]),
        tag_status=status,
        prefixes=prefixes,
        patterns=patterns,
        count_type=count_type,
        count_number=number,
    )


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise PolicyError(problem)


def expired(rules: list[Rule], images: Iterable[Image], now_s: float) -> dict[str, int]:
    """digest -> priority of the rule that expires it, for one evaluation of the policy."""
    pool = list(images)
    out: dict[str, int] = {}
    for index, rule in enumerate(rules):
        higher = rules[:index]
        for image in rule.marks([i for i in pool if rule.selects(i)], now_s):
            if image.digest in out or any(h.selects(image) for h in higher):
                continue
            out[image.digest] = rule.priority
    return out


def selecting_rule(rules: list[Rule], tags: Iterable[str]) -> int | None:
    """The priority of the first rule whose tag selection matches an image with `tags`: the
    only rule that can ever expire it."""
    image = Image(digest="probe", tags=frozenset(tags), pushed_at_s=0.0)
    return next((r.priority for r in rules if r.selects(image)), None)
