"""Log groups with a retention from the stage config, and the containers' log driver."""

from __future__ import annotations

from typing import Final

from aws_cdk import RemovalPolicy, Size
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.task_design import LOG_MAX_BUFFER_MIB

_RETENTION: Final[dict[int, logs.RetentionDays]] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    return _RETENTION[days]


def log_group(
    scope: Construct,
    construct_id: str,
    *,
    retention_days: int,
    removal_policy: RemovalPolicy,
    encryption_key: kms.IKey | None = None,
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        retention=retention(retention_days),
        removal_policy=removal_policy,
        encryption_key=encryption_key,
    )


def aws_log_driver(*, stream_prefix: str, group: logs.ILogGroup) -> ecs.LogDriver:
    """The awslogs driver with its delivery mode set explicitly (non-blocking, buffered; see
    `infra.task_design.LOG_DRIVER_MODE` for why), never left to the account's default."""
    # NON_BLOCKING is LOG_DRIVER_MODE (tests/infra/test_task_logging.py holds them together).
    return ecs.LogDrivers.aws_logs(
        stream_prefix=stream_prefix,
        log_group=group,
        mode=ecs.AwsLogDriverMode.NON_BLOCKING,
        max_buffer_size=Size.mebibytes(LOG_MAX_BUFFER_MIB),
    )
