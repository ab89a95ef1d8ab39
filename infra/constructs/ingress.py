"""The public entry point: an Application Load Balancer with access logs.

Only the API and the health check are routed to the app; every other path (the metrics, the
cache statistics, the API docs) gets a fixed 404 from the load balancer itself.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StageConfig
from infra.nag import acknowledge

# (listener rule priority, path pattern) forwarded to the app. ALB path patterns are
# case-sensitive and match the path only (not the query string).
FORWARDED_PATHS: Final[tuple[tuple[int, str], ...]] = ((10, "/api/*"), (20, "/health"))
# TLS 1.3 and 1.2 only, forward-secret ciphers: AWS's recommended policy for new listeners.
TLS_POLICY: Final = elbv2.SslPolicy.RECOMMENDED_TLS


class Ingress(Construct):
    """ALB in the public subnets. Its group admits 80 (and 443 with a certificate, 80 then
    redirecting) from the configured CIDRs only (none by default without a certificate: plain
    HTTP would carry bearer tokens in clear text); it can reach nothing but the app's port,
    which the service grants when it registers as a target. With a hosted zone, the domain's
    alias record points at the load balancer.

    Attributes: `security_group`, `access_logs`, `load_balancer`, `target_group`, `listener`
    (the one that forwards), `alias_record` (None without a hosted zone).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StageConfig, vpc: ec2.IVpc
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = self._security_group(config, vpc)
        self.access_logs = self._access_logs(config)
        self.load_balancer = self._load_balancer(config, vpc)
        self.target_group = self._target_group(config, vpc)
        self.listener = self._listener(config)
        for priority, pattern in FORWARDED_PATHS:
            self.listener.add_target_groups(
                f"Forward{priority}",
                priority=priority,
                conditions=[elbv2.ListenerCondition.path_patterns([pattern])],
                target_groups=[self.target_group],
            )
        self.alias_record = self._alias_record(config)

    def _security_group(self, config: StageConfig, vpc: ec2.IVpc) -> ec2.SecurityGroup:
        """Admits the listeners' ports from the allowed CIDRs; no egress until the app's port."""
        security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Fyntrix load balancer: HTTP(S) from the allowed CIDRs",
            # Egress is opened port by port (to the task group on the app port only).
            allow_all_outbound=False,
        )
        listen_ports = [80] + ([443] if config.certificate_arn else [])
        for cidr in config.ingress_cidrs:
            peer = ec2.Peer.ipv4(cidr) if ":" not in cidr else ec2.Peer.ipv6(cidr)
            for port in listen_ports:
                security_group.add_ingress_rule(
                    peer, ec2.Port.tcp(port), f"HTTP{'S' if port == 443 else ''} from {cidr}"
                )
        if any(c.endswith("/0") for c in config.ingress_cidrs):
            acknowledge(security_group, "AwsSolutions-EC23")
        if config.plain_http_notice:
            # A warning, not an error: a dev stage reachable by no one is safe, just not useful.
            Annotations.of(self).add_warning_v2("fyntrix:plain-http", config.plain_http_notice)
        return security_group

    def _access_logs(self, config: StageConfig) -> s3.Bucket:
        """The load balancer's access logs, kept as long as the stage's other logs."""
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # ALB log delivery supports SSE-S3 only.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(config.log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            access_logs,
            "AwsSolutions-S1",
            "NIST.800.53.R5-S3BucketLoggingEnabled",
            "NIST.800.53.R5-S3BucketReplicationEnabled",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
        )
        return access_logs

    def _load_balancer(self, config: StageConfig, vpc: ec2.IVpc) -> elbv2.ApplicationLoadBalancer:
        """Internet-facing in the public subnets, logging to the access-log bucket."""
        load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=self.security_group,
            drop_invalid_header_fields=True,
            deletion_protection=config.deletion_protection,
        )
        load_balancer.log_access_logs(self.access_logs, prefix="alb")
        if not config.waf.enabled:
            acknowledge(load_balancer, "NIST.800.53.R5-ALBWAFEnabled")
        if not config.deletion_protection:
            acknowledge(load_balancer, "NIST.800.53.R5-ELBDeletionProtectionEnabled")
        if not config.certificate_arn:
            acknowledge(
                load_balancer,
                "NIST.800.53.R5-ELBv2ACMCertificateRequired",
                "NIST.800.53.R5-ALBHttpToHttpsRedirection",
            )
        return load_balancer

    def _target_group(self, config: StageConfig, vpc: ec2.IVpc) -> elbv2.ApplicationTargetGroup:
        """The app's tasks by IP, healthy when the health check path answers 200."""
        target_group = elbv2.ApplicationTargetGroup(
            self,
            "AppTargets",
            vpc=vpc,
            port=config.app.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=config.app.health_check_path,
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        return target_group

    def _listener(self, config: StageConfig) -> elbv2.ApplicationListener:
        """The listener that forwards: HTTPS with a certificate (80 then only redirects), else
        HTTP. Paths it does not forward get a 404 from the load balancer."""
        if config.certificate_arn:
            listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(config.certificate_arn)],
                ssl_policy=TLS_POLICY,
                open=False,
                default_action=_not_found(),
            )
            # Not `add_redirect`: it opens port 80 to 0.0.0.0/0 regardless of the allowed CIDRs.
            redirect = self.load_balancer.add_listener(
                "HttpRedirect",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                open=False,
                default_action=elbv2.ListenerAction.redirect(
                    protocol="HTTPS", port="443", permanent=True
                ),
            )
            acknowledge(redirect, "NIST.800.53.R5-ELBv2ACMCertificateRequired#redirect-listener")
            return listener
        return self.load_balancer.add_listener(
            "Http",
            port=80,
            protocol=elbv2.ApplicationProtocol.HTTP,
            open=False,
            default_action=_not_found(),
        )

    def _alias_record(self, config: StageConfig) -> route53.ARecord | None:
        """`domain_name` -> the load balancer, in the configured hosted zone. The name is given
        fully qualified (trailing dot), so the zone's own name is never needed: an imported
        zone id is all the team has to provide."""
        if not (config.hosted_zone_id and config.domain_name):
            return None
        zone = route53.HostedZone.from_hosted_zone_id(self, "Zone", config.hosted_zone_id)
        return route53.ARecord(
            self,
            "Alias",
            zone=zone,
            record_name=f"{config.domain_name}.",
            target=route53.RecordTarget.from_alias(
                route53_targets.LoadBalancerTarget(self.load_balancer)
            ),
            comment=f"{config.service_stack_name}: the API's domain -> its load balancer",
        )


def _not_found() -> elbv2.ListenerAction:
    """What the load balancer answers for every path it does not forward."""
    return elbv2.ListenerAction.fixed_response(
        404, content_type="application/json", message_body='{"detail":"Not Found"}'
    )
