"""Alarm thresholds, notification e-mails and the GitHub deploy identity.

Every alarm's threshold is a setting with its bounds beside it, so a percentage over 100, a
negative latency or an address that is not one fails the synth naming the setting and the fix.
What each alarm watches, and why, is in :mod:`infra.monitoring_design` (CDK-free; the docs
generator renders its table from the same specs the CDK code builds the alarms from).
"""

from __future__ import annotations

import re
from typing import Final

from infra.config.spec import Rule, at_least, between, matches, setting, settings_class

# A pragmatic address check (local@domain.tld, no spaces): SNS sends a confirmation mail, so
# the real test of an address is its owner clicking the link; this catches typos at synth.
EMAIL_RE: Final = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# Redis's process memory beyond its dataset (its own footprint, allocator fragmentation, client
# buffers) with a full cache, in points of the redis container's limit: the redis-memory
# alarm's threshold must sit above maxmemory's share plus this, or a full LRU cache (its normal
# state) alarms. Measured with maxmemory 192mb in a 256 MiB container under a write load:
# evicting, the cgroup peaked at about 196 MiB (1.6 points above maxmemory's 75 %).
REDIS_OVERHEAD_HEADROOM_PERCENT: Final = 5
# GitHub's owner (user or organisation) and repository name rules.
GITHUB_REPOSITORY_RE: Final = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"
)
# Branch and environment names as they appear in the OIDC token's `sub` claim; `:` and `*`
# would change what the trust condition matches, so they are never allowed.
GIT_REF_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
AWS_ACCOUNT_RE: Final = re.compile(r"^[0-9]{12}$")


def _percent(what: str) -> Rule:
    return between(
        1, 100, "{value} % is not a percentage from {lo} to {hi}", f"choose {what} from 1 to 100"
    )


def _minutes(what: str) -> Rule:
    return between(
        1,
        60,
        "{value} minutes is outside {lo}-{hi} minutes",
        f"choose how long {what} lasts before the alarm, {{lo}} to {{hi}} minutes",
    )


def _account_rule(stage: str) -> Rule:
    return matches(
        AWS_ACCOUNT_RE,
        "{value!r} is not an AWS account id",
        f"use the 12-digit id of {stage}'s account, e.g. -c set:ci.{stage}_account=123456789012",
    )


def _count(what: str, lo: int = 0) -> Rule:
    return at_least(lo, "{value} is below {lo}", f"choose {what} of at least {{lo}}")


@settings_class
class AlarmSettings:
    """Thresholds of the stage's alarms (`infra/constructs/alarms.py`) and who hears them."""

    notification_emails: tuple[str, ...] = setting(
        "e-mail addresses subscribed to the stage's alarm topic (comma-separated; each "
        "confirms by mail); empty: subscribe a pager or chat tool to the topic instead",
        default=(),
        rules=[
            matches(
                EMAIL_RE,
                "{value!r} is not an e-mail address",
                "use addresses like ops@example.com, separated by commas",
                each=True,
            ),
            Rule(
                lambda v: len(set(v)) == len(v),
                "an address is listed twice",
                "list each address once",
            ),
        ],
    )
    target_5xx_percent: int = setting(
        "target 5xx rate (% of requests, per minute) that alarms and rolls a deploy back",
        default=5,
        rules=[_percent("a 5xx rate")],
    )
    min_requests_per_minute: int = setting(
        "requests a minute needs before its 5xx rate counts (1 error in 2 requests is noise)",
        default=20,
        rules=[_count("a request count", lo=1)],
    )
    p99_latency_ms: int = setting(
        "p99 target response time (ms) that alarms and rolls a deploy back",
        default=1000,
        rules=[
            between(
                1,
                60_000,
                "{value} ms is not a latency from {lo} to {hi} ms",
                "choose a p99 latency in milliseconds, {lo} to {hi} (the load balancer's "
                "default idle timeout is 60 s)",
            )
        ],
    )
    bad_deploy_minutes: int = setting(
        "consecutive minutes of 5xx, slow p99 or unhealthy targets before those alarms fire",
        default=3,
        rules=[_minutes("a 5xx, latency or unhealthy-target spell")],
    )
    rejected_connections_per_minute: int = setting(
        "connections the load balancer may reject per minute (at its connection limit)",
        default=0,
        rules=[_count("a rejected-connection count")],
    )
    waf_blocked_requests_per_5min: int = setting(
        "requests the WAF may block per 5 minutes before the spike alarm (where a WAF exists)",
        default=500,
        rules=[_count("a blocked-request count", lo=1)],
    )
    tasks_below_desired_minutes: int = setting(
        "minutes running tasks may stay below desired (a replaced task takes ~2 min)",
        default=5,
        rules=[_minutes("a task shortfall")],
    )
    container_cpu_percent: int = setting(
        "a container's CPU use, % of the task's CPU units, sustained for utilization_minutes",
        default=90,
        rules=[_percent("a CPU utilisation")],
    )
    container_memory_percent: int = setting(
        "a container's memory use, % of its hard limit (the OOM-kill point); must stay above "
        "where a full cache keeps the redis container (maxmemory's share + 5)",
        default=90,
        rules=[_percent("a memory utilisation")],
    )
    utilization_minutes: int = setting(
        "minutes CPU or memory must stay high before the alarm",
        default=5,
        rules=[_minutes("high utilisation")],
    )
    task_restarts_per_15min: int = setting(
        "unexpected task stops (crash, failed health check) per 15 minutes that alarm",
        default=2,
        rules=[_count("a task-stop count", lo=1)],
    )
    cache_hit_ratio_floor_percent: int = setting(
        "cache hit ratio (% of cached reads) below which the cache is not doing its job",
        default=50,
        rules=[
            between(
                1,
                99,
                "{value} % is not a hit-ratio floor from {lo} to {hi} %",
                "choose a floor from {lo} to {hi} percent",
            )
        ],
    )
    min_cache_reads_per_5min: int = setting(
        "cached reads 5 minutes need before their hit ratio counts",
        default=100,
        rules=[_count("a read count", lo=1)],
    )
    evictions_per_5min: int = setting(
        "keys Redis may evict per 5 minutes while the hit ratio is below its floor before "
        "cache-thrashing fires (evictions with a good hit ratio never alarm)",
        default=100,
        rules=[_count("an eviction count")],
    )
    breaker_open_minutes: int = setting(
        "minutes the Redis circuit breaker may stay open (reads bypass the cache meanwhile)",
        default=3,
        rules=[_minutes("an open breaker")],
    )
    stale_answers_minutes: int = setting(
        "minutes in a row reads may be answered from stale copies (the database failing, "
        "app.cache_stale_if_error_s) before stale-answers fires",
        default=3,
        rules=[_minutes("a spell of stale answers")],
    )


@settings_class
class CiSettings:
    """The `Fyntrix-CI` stack: GitHub's OIDC provider and the roles its workflows assume
    (one deploy role per stage, one diff role). Deployed once, in the account whose roles the
    workflows assume, so no stage sets these apart; each stage's account is a setting here."""

    github_repository: str | None = setting(
        "GitHub repository (owner/name) whose workflows may deploy; unset: no Fyntrix-CI stack",
        default=None,
        rules=[
            matches(
                GITHUB_REPOSITORY_RE,
                "{value!r} is not a GitHub repository",
                "use owner/name, e.g. -c set:ci.github_repository=acme/fyntrix-deploy",
            )
        ],
    )
    deploy_branch: str = setting(
        "branch whose pushes may deploy dev (the token's `sub` is repo:OWNER/NAME:ref:"
        "refs/heads/BRANCH)",
        default="main",
        rules=[
            matches(
                GIT_REF_NAME_RE,
                "{value!r} is not a branch name",
                "use a plain branch name such as main (no ':' or '*')",
            )
        ],
    )
    prod_environment: str = setting(
        "GitHub environment (with required reviewers) whose jobs may deploy prod",
        default="prod",
        rules=[
            matches(
                GIT_REF_NAME_RE,
                "{value!r} is not an environment name",
                "use a plain environment name such as prod (no ':' or '*')",
            )
        ],
    )
    dev_account: str | None = setting(
        "AWS account (12 digits) dev deploys to; its CDK bootstrap must trust Fyntrix-CI's "
        "account (`cdk bootstrap --trust`); unset: Fyntrix-CI's own account",
        default=None,
        rules=[_account_rule("dev")],
    )
    prod_account: str | None = setting(
        "AWS account (12 digits) prod deploys to, ideally not dev's; its CDK bootstrap must "
        "trust Fyntrix-CI's account (`cdk bootstrap --trust`); unset: Fyntrix-CI's own account",
        default=None,
        rules=[_account_rule("prod")],
    )
    create_oidc_provider: bool = setting(
        "create GitHub's OIDC provider (an account holds one per URL: set false if it exists)",
        default=True,
    )
