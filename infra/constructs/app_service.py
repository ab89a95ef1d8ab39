"""The Fargate service: deployment safety, ECS Exec, autoscaling and its security group."""

from __future__ import annotations

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct, IDependable

from infra.config import StageConfig
from infra.nag import acknowledge
from infra.task_design import APP_CONTAINER


class AppService(Construct):
    """Runs the task in private subnets without public IPs.

    The task group allows the Redis port only from itself and the app port only from the load
    balancer's group (granted when the service registers with the target group); there is no
    CIDR rule on either port.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        cluster: ecs.ICluster,
        capacity_providers: IDependable,
        task_definition: ecs.FargateTaskDefinition,
        target_group: elbv2.ApplicationTargetGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=cluster.vpc,
            description="Fyntrix tasks: app port from the load balancer, redis from this group",
            # Tasks reach ECR, Secrets Manager and CloudWatch through the NAT gateway.
            allow_all_outbound=True,
        )
        # Containers of one task share a network namespace and talk over loopback, which no
        # security group filters; this rule documents the sidecar's port and keeps it closed
        # to every other source.
        self.security_group.add_ingress_rule(
            self.security_group,
            ec2.Port.tcp(config.redis.port),
            "Redis sidecar: only from tasks in this group",
        )
        # The load balancer forwards only /api/* and /health; the ops endpoints (/metrics,
        # /cache/stats, /docs) are reachable on the app port from this group alone, if named.
        if config.ops_access_security_group_id:
            self.security_group.add_ingress_rule(
                ec2.Peer.security_group_id(config.ops_access_security_group_id),
                ec2.Port.tcp(config.app.port),
                "Ops endpoints (metrics, cache stats, docs) from the ops access group",
            )

        # No fixed name: a change that replaces the service (cluster, launch type or capacity
        # providers, role) would otherwise fail on its own name. Tools read the name from the
        # stack's `ServiceName` output (docs/reference/names.md).
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=task_definition,
            desired_count=config.scaling.desired_count,
            security_groups=[self.security_group],
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            assign_public_ip=False,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            min_healthy_percent=100,
            max_healthy_percent=200,
            health_check_grace_period=Duration.seconds(config.health_check_grace_s),
            enable_execute_command=config.enable_exec,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            capacity_provider_strategies=capacity_strategy(config),
        )
        # The strategy names FARGATE/FARGATE_SPOT, which ECS accepts only once they are
        # associated with the cluster; nothing else orders the two.
        self.service.node.add_dependency(capacity_providers)
        # Registers app:<port> explicitly (not "the default container") and opens the app port
        # from the load balancer's group, egress on the load balancer's side included.
        target_group.add_target(
            self.service.load_balancer_target(
                container_name=APP_CONTAINER, container_port=config.app.port
            )
        )

        self._acknowledge_exec_permissions(task_definition, cluster)

        self.scaling = self.service.auto_scale_task_count(
            min_capacity=config.scaling.min_capacity, max_capacity=config.scaling.max_capacity
        )
        # Each task brings its own Redis, so scaling out adds cache capacity with compute.
        self.scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=config.scaling.cpu_target_percent,
            scale_in_cooldown=Duration.seconds(120),
            scale_out_cooldown=Duration.seconds(60),
        )
        self.scaling.scale_on_memory_utilization(
            "Memory",
            target_utilization_percent=config.scaling.memory_target_percent,
            scale_in_cooldown=Duration.seconds(120),
            scale_out_cooldown=Duration.seconds(60),
        )

    def _acknowledge_exec_permissions(
        self, task_definition: ecs.FargateTaskDefinition, cluster: ecs.ICluster
    ) -> None:
        """ECS Exec (enabled above) adds its grants to the task role's default policy."""
        policy = task_definition.task_role.node.try_find_child("DefaultPolicy")
        if policy is None:
            return
        acknowledge(policy, "AwsSolutions-IAM5[Resource::*]", "NIST.800.53.R5-IAMNoInlinePolicy")
        log_group = cluster.execute_command_configuration and (
            cluster.execute_command_configuration.log_configuration
        )
        group = log_group.cloud_watch_log_group if log_group else None
        if group is not None:
            stack = Stack.of(self)
            partition = (
                "<AWS::Partition>" if Token.is_unresolved(stack.partition) else stack.partition
            )
            account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
            region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
            logical_id = stack.get_logical_id(group.node.default_child)  # type: ignore[arg-type]
            acknowledge(
                policy,
                "AwsSolutions-IAM5[log-streams]",
                finding=(
                    f"Resource::arn:{partition}:logs:{region}:{account}:log-group:<{logical_id}>:*"
                ),
            )


def capacity_strategy(config: StageConfig) -> list[ecs.CapacityProviderStrategy]:
    """On-demand FARGATE for every task, or (dev's `capacity.spot`) FARGATE_SPOT for all but
    `capacity.on_demand_base` tasks. Always a strategy, never a launch type: turning Spot on
    or off then changes only the strategy, which ECS updates in place (CloudFormation replaces
    a service whose launch type changes, and this service's fixed name forbids a
    replacement)."""
    if not config.capacity.spot:
        return [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]
    strategy = [ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=1)]
    if config.capacity.on_demand_base:
        # Weight 0: FARGATE runs exactly the base; every task above it goes to Spot.
        strategy.insert(
            0,
            ecs.CapacityProviderStrategy(
                capacity_provider="FARGATE", base=config.capacity.on_demand_base, weight=0
            ),
        )
    return strategy
