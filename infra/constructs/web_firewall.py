"""AWS WAF in front of the load balancer: managed rule groups, a per-IP rate limit, logs."""

from __future__ import annotations

from typing import Final

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.logging import retention
from infra.constructs.unique_name import stack_unique_name

# AWS managed rule groups, in evaluation order after the rate limit (priority, name). Known
# sources of abuse first (cheapest to drop), then the OWASP-style common set, then payloads
# known to exploit common stacks (Log4j, Java deserialisation, host header tricks).
MANAGED_RULE_GROUPS: Final[tuple[tuple[int, str], ...]] = (
    (0, "AWSManagedRulesAmazonIpReputationList"),
    (2, "AWSManagedRulesCommonRuleSet"),
    (3, "AWSManagedRulesKnownBadInputsRuleSet"),
)
RATE_LIMIT_PRIORITY: Final = 1
RATE_LIMIT_RULE: Final = "PerIpRateLimit"


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True,
        metric_name=metric_name,
        sampled_requests_enabled=True,
    )


class WebFirewall(Construct):
    """A REGIONAL web ACL associated with the load balancer; requests no rule blocks are
    allowed. Every rule publishes a CloudWatch metric named after it (`WebACL`/`Rule`
    dimensions), which the alarms read; full request logs go to an encrypted log group.

    Attributes: `web_acl` (CfnWebACL; `attr_arn`), `web_acl_name`, `rule_metric_names`,
    `log_group`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        load_balancer: elbv2.IApplicationLoadBalancer,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.web_acl_name = config.web_acl_name
        rules = sorted(
            [self._rate_rule(config)]
            + [self._managed_rule(priority, name) for priority, name in MANAGED_RULE_GROUPS],
            key=lambda rule: int(rule.priority),
        )
        # Each rule's metric is named after the rule (CloudWatch dimension `Rule`).
        self.rule_metric_names = tuple(str(rule.name) for rule in rules)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=self.web_acl_name,
            scope="REGIONAL",
            description=f"Fyntrix {config.stage}: managed rule groups and a per-IP rate limit",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(self.web_acl_name),
            rules=rules,
        )
        wafv2.CfnWebACLAssociation(
            self,
            "Association",
            resource_arn=load_balancer.load_balancer_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
        # Retained in prod: its name ends in the stack's id, so the group an earlier incarnation
        # of the stack left behind never blocks re-creating the stage after `make destroy`.
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=stack_unique_name(self, config.waf_log_group_prefix),
            retention=retention(config.log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN
            if config.retain_on_delete
            else RemovalPolicy.DESTROY,
        )
        # WAF wants the log group's ARN without the `:*` suffix `log_group_arn` carries; the
        # name's Ref has CloudFormation create the group first.
        destination = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[destination],
            # Tokens are credentials: never write them into the logs.
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(
                    single_header={"Name": "authorization"}
                )
            ],
        )

    @staticmethod
    def _rate_rule(config: StageConfig) -> wafv2.CfnWebACL.RuleProperty:
        return wafv2.CfnWebACL.RuleProperty(
            name=RATE_LIMIT_RULE,
            priority=RATE_LIMIT_PRIORITY,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP",
                    limit=config.waf.rate_limit,
                    evaluation_window_sec=config.waf.rate_window_s,
                )
            ),
            visibility_config=_visibility(RATE_LIMIT_RULE),
        )

    @staticmethod
    def _managed_rule(priority: int, name: str) -> wafv2.CfnWebACL.RuleProperty:
        return wafv2.CfnWebACL.RuleProperty(
            name=name,
            priority=priority,
            # `none`: the group's own actions (block) apply; `count` would only observe.
            override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                    vendor_name="AWS", name=name
                )
            ),
            visibility_config=_visibility(name),
        )
