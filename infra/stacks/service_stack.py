"""Fyntrix-Service-<stage>: network, cluster, task, load balancer, service and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.app_secrets import (
    AppSecrets,
    app_secret_in,
    container_secrets,
    grant_decrypt_via_secrets_manager,
)
from infra.constructs.app_service import AppService
from infra.constructs.cache_sidecar_task import CacheSidecarTask
from infra.constructs.cluster import ServiceCluster
from infra.constructs.encryption import Encryption
from infra.constructs.ingress import Ingress
from infra.constructs.monitoring import Monitoring
from infra.constructs.network import Network
from infra.constructs.user_auth import UserAuth
from infra.constructs.web_firewall import WebFirewall


class ServiceStack(Stack):
    """Wires the constructs together; all decisions live in the constructs and the config."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        secrets: AppSecrets,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # By name, not by cross-stack export: the registry is shared by every stage and an
        # export in use would block its updates.
        repository = ecr.Repository.from_repository_name(
            self, "AppRepository", config.repository_name
        )
        self.encryption = Encryption(self, "Encryption", config=config)
        key = self.encryption.key
        self.network = Network(self, "Network", config=config, key=key)
        self.cluster = ServiceCluster(self, "Cluster", config=config, vpc=self.network.vpc, key=key)
        # The app secret lives in the state stack, which `make destroy` keeps.
        self.app_secret = app_secret_in(self, secrets)
        self.auth = UserAuth(self, "Auth", config=config)
        self.task = CacheSidecarTask(
            self,
            "Task",
            config=config,
            repository=repository,
            secrets=container_secrets(self.app_secret),
            auth_environment=config.auth_environment(
                user_pool_id=self.auth.user_pool_id, client_ids=self.auth.client_ids
            ),
            key=key,
        )
        grant_decrypt_via_secrets_manager(
            self.task.task_definition.obtain_execution_role(), self.app_secret, config.region
        )
        self.ingress = Ingress(self, "Ingress", config=config, vpc=self.network.vpc)
        # None where the stage runs without WAF (dev only; prod rejects waf.enabled=false).
        self.firewall: WebFirewall | None = (
            WebFirewall(
                self,
                "Firewall",
                config=config,
                load_balancer=self.ingress.load_balancer,
                key=key,
            )
            if config.waf.enabled
            else None
        )
        self.app_service = AppService(
            self,
            "AppService",
            config=config,
            cluster=self.cluster.cluster,
            capacity_providers=self.cluster.capacity_providers,
            task_definition=self.task.task_definition,
            target_group=self.ingress.target_group,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            key=key,
            cluster=self.cluster.cluster,
            service=self.app_service.service,
            load_balancer=self.ingress.load_balancer,
            target_group=self.ingress.target_group,
            web_acl=self.firewall.web_acl if self.firewall else None,
        )

        scheme = "https" if config.certificate_arn else "http"
        lb_url = f"{scheme}://{self.ingress.load_balancer.load_balancer_dns_name}"
        CfnOutput(self, "LoadBalancerUrl", value=lb_url)
        # What clients and the smoke test call: the domain the certificate covers (the load
        # balancer's own name is no name of the certificate's), else the load balancer.
        CfnOutput(self, "ServiceUrl", value=config.service_url or lb_url)
        CfnOutput(self, "ClusterName", value=self.cluster.cluster.cluster_name)
        CfnOutput(self, "ServiceName", value=self.app_service.service.service_name)
        CfnOutput(self, "RepositoryName", value=config.repository_name)
        if self.firewall is not None:
            CfnOutput(self, "WafLogGroupName", value=self.firewall.log_group.log_group_name)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        # From the config alone, like `make dashboard-url`: the two cannot disagree.
        CfnOutput(self, "DashboardUrl", value=config.dashboard_url)
        CfnOutput(self, "UserPoolId", value=self.auth.user_pool_id)
        CfnOutput(self, "AppClientIds", value=self.auth.client_ids)
