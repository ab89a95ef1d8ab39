"""What AWS, Redis and this design allow: the tables the settings are checked against.

Facts, not tunables: a value here changes only when AWS or Redis changes (each table says
where it comes from) or when the design does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

# Fargate's supported task sizes: cpu units -> memory MiB allowed with it.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html
FARGATE_TASK_SIZES: Final[Mapping[int, tuple[int, ...]]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

# Redis eviction policies that keep a cache bounded. `noeviction` turns a full cache into
# write errors, which the app would have to survive on every SET: never what a cache wants.
# The service restates Redis's policy names (service/settings.py MaxmemoryPolicy, because its
# image cannot import infra/); tests/service/test_infra_parity.py pins the two together.
EVICTION_POLICIES: Final = (
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
)

# `maxmemory` bounds the dataset, not the process (fragmentation, client buffers, the
# replication backlog). At or above this share of the container's hard limit, Redis gets
# OOM-killed under load instead of evicting.
MAXMEMORY_CEILING_RATIO: Final = 0.80
# The default `maxmemory` when none is set: 75 % of the container limit.
MAXMEMORY_DEFAULT_RATIO: Final = 0.75

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: Final = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip

# Formats AWS and Docker accept.
IMAGE_TAG_RE: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ECR_REPOSITORY_RE: Final = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
)
ECR_REPOSITORY_MAX_LEN: Final = 256
ENV_KEY_RE: Final = re.compile(r"^[A-Z][A-Z0-9_]*$")
ACM_ARN_RE: Final = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
VPC_ID_RE: Final = re.compile(r"^vpc-[0-9a-f]{8,17}$")
REGION_RE: Final = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
SECURITY_GROUP_ID_RE: Final = re.compile(r"^sg-[0-9a-f]{8,17}$")
# A fully qualified DNS name in lower case, without the trailing dot: at least two labels of
# 1-63 letters, digits or inner hyphens, 253 characters at most (RFC 1035; ACM and Route 53
# compare names case-insensitively, so one spelling keeps the outputs and checks exact).
DNS_NAME_RE: Final = re.compile(
    r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
# Route 53 hosted zone ids: up to 32 upper-case letters and digits (the API's limit; AWS's
# start with Z, which the API does not promise), given without the `/hostedzone/` prefix.
HOSTED_ZONE_ID_RE: Final = re.compile(r"^[0-9A-Z]{4,32}$")
# Cognito: pool ids are `<region>_<id>`; app client ids 1-128 word characters; group names
# 1-128 characters without whitespace (we also keep them printable ASCII).
USER_POOL_ID_RE: Final = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d_[0-9a-zA-Z]+$")
CLIENT_ID_RE: Final = re.compile(r"^[\w+]{1,128}$")
COGNITO_GROUP_RE: Final = re.compile(r"^[!-~]{1,128}$")

# AWS WAF rate-based rules: the evaluation windows WAF offers (seconds) and its request limits.
WAF_RATE_WINDOWS_S: Final = (60, 120, 300, 600)
WAF_RATE_LIMIT_MIN: Final = 10
WAF_RATE_LIMIT_MAX: Final = 2_000_000_000

# Cognito user pool feature plans this design offers (Lite lacks the MFA and token features
# the pool relies on). Threat protection exists only on Plus.
COGNITO_FEATURE_PLANS: Final = ("essentials", "plus")

# The longest stale-if-error bound (app.cache_stale_if_error_s), seconds; the service's settings
# take the same range (tests/service/test_infra_parity.py pins them together).
MAX_STALE_IF_ERROR_S: Final = 3600
