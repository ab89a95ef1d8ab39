"""The stage's alarms, its composite "service unhealthy" alarm and the deploy rollback wiring."""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra import monitoring_design as d
from infra.config import StageConfig
from infra.constructs.service_metrics import ServiceMetrics

_COMPARISON: Final = {
    ">": cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
    ">=": cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "<": cw.ComparisonOperator.LESS_THAN_THRESHOLD,
}
_MISSING: Final = {
    "breaching": cw.TreatMissingData.BREACHING,
    "notBreaching": cw.TreatMissingData.NOT_BREACHING,
    "ignore": cw.TreatMissingData.IGNORE,
    "missing": cw.TreatMissingData.MISSING,
}
# ECS stop codes of a task that died rather than being replaced on purpose (deploys and
# scale-in stop tasks with ServiceSchedulerInitiated, operators with UserInitiated).
_CRASH_STOP_CODES: Final = ["EssentialContainerExited", "TaskFailedToStart"]
# The scheduler also stops tasks that fail health checks ("Task failed ELB health checks in
# ...", "Task failed container health checks"): those are restarts too.
_HEALTH_STOP_PREFIX: Final = "Task failed"


def task_stop_message(config: StageConfig) -> events.RuleTargetInput:
    """What the alarm topic's subscribers read when a task stops unexpectedly: the stop code
    and reason, and each container's exit code and reason (an OOM kill, a failed health
    check), so the mail says which container died and why without opening the console."""
    field = events.EventField.from_path
    containers = "; ".join(
        f"{field(f'$.detail.containers[{i}].name')} exit code "
        f"{field(f'$.detail.containers[{i}].exitCode')} "
        f"({field(f'$.detail.containers[{i}].reason')})"
        for i in range(len(d.CONTAINERS))
    )
    return events.RuleTargetInput.from_text(
        f"Fyntrix {config.stage}: a task of {field('$.detail.group')} stopped unexpectedly. "
        f"Stop code: {field('$.detail.stopCode')}. "
        f"Stopped reason: {field('$.detail.stoppedReason')}. "
        f"Containers: {containers}. "
        f"Task: {field('$.detail.taskArn')} in cluster {field('$.detail.clusterArn')}."
    )


def task_stops_rule(
    scope: Construct, config: StageConfig, cluster: ecs.ICluster, service: ecs.BaseService
) -> events.Rule:
    """Matches the service's unexpected task stops. Its AWS/Events MatchedEvents count is the
    restart metric: Container Insights' RestartCount only covers containers with a restart
    policy, and a crash-looping task is replaced (a new task), not restarted in place. Each
    match also notifies the alarm topic (:func:`task_stop_message`, wired by Monitoring)."""
    return events.Rule(
        scope,
        "TaskStops",
        rule_name=f"{config.alarm_name_prefix}-task-stops",
        description=f"Unexpected stops of the Fyntrix {config.stage} service's tasks "
        "(counted by an alarm)",
        event_pattern=events.EventPattern(
            source=["aws.ecs"],
            detail_type=["ECS Task State Change"],
            detail={
                "clusterArn": [cluster.cluster_arn],
                "group": [f"service:{service.service_name}"],
                "lastStatus": ["STOPPED"],
                "$or": [
                    {"stopCode": _CRASH_STOP_CODES},
                    {"stoppedReason": [{"prefix": _HEALTH_STOP_PREFIX}]},
                ],
            },
        ),
    )


class ServiceAlarms(Construct):
    """One alarm per :func:`infra.monitoring_design.alarm_specs` entry, each notifying the
    topic; the critical ones form the composite alarm, and the rollback ones become the ECS
    service's deployment alarms (ROLLBACK_ON_ALARM), next to its circuit breaker."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        metrics: ServiceMetrics,
        topic: sns.ITopic,
        service: ecs.BaseService,
    ) -> None:
        super().__init__(scope, construct_id)
        self.specs = d.alarm_specs(config, waf=metrics.has_waf)
        action = cw_actions.SnsAction(topic)
        self.alarms: dict[str, cw.Alarm] = {}
        for spec in self.specs:
            alarm = cw.Alarm(
                self,
                spec.key,
                alarm_name=spec.name(config),
                alarm_description=f"{spec.why}. Threshold: {spec.condition} "
                f"(setting {spec.setting}). Missing data: {spec.missing_reason}.",
                metric=metrics.for_alarm(spec),
                threshold=spec.threshold,
                comparison_operator=_COMPARISON[spec.comparison],
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.evaluation_periods,
                treat_missing_data=_MISSING[spec.missing_data],
            )
            alarm.add_alarm_action(action)
            if spec.critical:
                alarm.add_ok_action(action)  # the all-clear matters as much for these
            self.alarms[spec.key] = alarm

        children = d.composite_children(self.specs)
        self.service_unhealthy = cw.CompositeAlarm(
            self,
            "ServiceUnhealthy",
            composite_alarm_name=f"{config.alarm_name_prefix}-{d.COMPOSITE_KEY}",
            alarm_description=f"The Fyntrix {config.stage} service is failing its users: any of "
            + ", ".join(s.key for s in children)
            + " is in ALARM.",
            alarm_rule=cw.AlarmRule.any_of(*(self.alarms[s.key] for s in children)),
        )
        self.service_unhealthy.add_alarm_action(action)
        self.service_unhealthy.add_ok_action(action)

        # The configured names, not Refs (a Ref couples the service to the alarm resource, the
        # dependency-cycle risk CDK warns about); an explicit dependency still has
        # CloudFormation create the alarms before the service that lists them. These alarms
        # read load balancer metrics, not the service's, so there is no cycle (a Container
        # Insights alarm names the service and could not roll it back: service_metrics.py).
        rollback = d.deployment_alarms(self.specs)
        service.enable_deployment_alarms(
            [s.name(config) for s in rollback], behavior=ecs.AlarmBehavior.ROLLBACK_ON_ALARM
        )
        # On the CfnService alone: the service construct's children (autoscaling) need not wait.
        cfn_service = service.node.default_child
        assert cfn_service is not None
        for spec in rollback:
            cfn_service.node.add_dependency(self.alarms[spec.key])
