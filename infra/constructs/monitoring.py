"""Day-two monitoring of a stage: alarm topic, alarms, deployment rollback, dashboard."""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.alarm_topic import AlarmTopic
from infra.constructs.alarms import ServiceAlarms, task_stop_message, task_stops_rule
from infra.constructs.dashboard import ServiceDashboard
from infra.constructs.service_metrics import ServiceMetrics


def waf_metric_name(web_acl: wafv2.CfnWebACL) -> str:
    """The `WebACL` dimension of the web ACL's CloudWatch metrics: its visibility config's
    metric name (AWS WAF publishes under that name), else the web ACL's own name."""
    visibility = web_acl.visibility_config
    name = getattr(visibility, "metric_name", None)
    if isinstance(name, str):
        return name
    if web_acl.name:
        return web_acl.name
    # `Ref` of a web ACL is "name|id|scope".
    return Fn.select(0, Fn.split("|", web_acl.ref))


class Monitoring(Construct):
    """Wires the alarm topic, the alarms (and the service's deployment alarms) and the
    dashboard. `web_acl`: the web ACL associated with the load balancer, if any; the WAF
    blocked-request alarm and graph exist only with one."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        key: kms.IKey,
        cluster: ecs.ICluster,
        service: ecs.BaseService,
        load_balancer: elbv2.IApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        web_acl: wafv2.CfnWebACL | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarm_topic = AlarmTopic(self, "AlarmTopic", config=config, key=key)
        self.topic = self.alarm_topic.topic
        self.task_stops = task_stops_rule(self, config, cluster, service)
        self.alarm_topic.notify_from(self.task_stops, task_stop_message(config))
        self.metrics = ServiceMetrics(
            config=config,
            cluster_name=cluster.cluster_name,
            service_name=service.service_name,
            load_balancer=load_balancer,
            target_group=target_group,
            task_stops_rule=self.task_stops.rule_name,
            waf_metric_name=waf_metric_name(web_acl) if web_acl is not None else None,
        )
        self.alarms = ServiceAlarms(
            self,
            "Alarms",
            config=config,
            metrics=self.metrics,
            topic=self.topic,
            service=service,
        )
        self.dashboard = ServiceDashboard(
            self, "Dashboard", config=config, metrics=self.metrics, alarms=self.alarms
        ).dashboard
