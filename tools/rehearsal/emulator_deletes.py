"""Stack deletion in the local AWS emulator: the resource types moto's DeleteStack skips.

moto deletes a stack's resource only if its model implements a delete; for every other type
DeleteStack carries on as if it had deleted it. Our stacks use many such types (route tables,
their routes and subnet associations, NAT gateways, Elastic IPs, internet gateways and their
attachments, flow logs; ECS clusters, services and task definitions; load balancer listeners,
rules and target groups). Two things follow: the VPC fails with "The vpc ... has dependencies
and cannot be deleted" (its subnets' route tables remain, which moto's DeleteVpc refuses), so
`cdk destroy` fails where CloudFormation succeeds; and a stack created again meets the previous
one's leftovers. :func:`delete_what_moto_skips` gives each of those models the delete
CloudFormation performs, through moto's own API backends. The order is moto's: it retries a
resource whose delete failed after the others, as long as the stack shrinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (model class, delete(model, account_id, region_name))
_Delete = Callable[[Any, str, str], None]


def _ec2(account_id: str, region_name: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


def _delete_route_table(table: Any, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).delete_route_table(table.id)


def _delete_route(route: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if route.route_table.id in backend.route_tables:
        backend.delete_route(route.route_table.id, route.destination_cidr_block)


def _delete_subnet_association(association: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    backend.subnet_associations.pop(f"{association.route_table_id}:{association.subnet_id}", None)
    table = backend.route_tables.get(association.route_table_id)
    if table is not None:
        for association_id, subnet_id in list(table._associations.items()):
            if subnet_id == association.subnet_id:
                backend.disassociate_route_table(association_id)


def _delete_nat_gateway(gateway: Any, account_id: str, region_name: str) -> None:
    """Like AWS: the gateway's network interface goes with it and its Elastic IP is freed."""
    backend = _ec2(account_id, region_name)
    for eip in list(backend.addresses):
        if eip.eni is not None and eip.eni.id == gateway._eni.id:
            backend.disassociate_address(address=eip.public_ip)
    backend.enis.pop(gateway._eni.id, None)
    backend.delete_nat_gateway(gateway.id)


def _release_address(eip: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if eip in backend.addresses:
        backend.release_address(allocation_id=eip.allocation_id)


def _detach_gateway(attachment: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if attachment.gateway_id.startswith("igw-"):
        backend.detach_internet_gateway(attachment.gateway_id, attachment.vpc_id)
    else:
        backend.detach_vpn_gateway(attachment.gateway_id, attachment.vpc_id)


def _delete_internet_gateway(gateway: Any, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).delete_internet_gateway(gateway.id)


def _delete_flow_log(flow_log: Any, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).delete_flow_logs([flow_log.id])


def _ecs(account_id: str, region_name: str) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[account_id][region_name]


def _delete_cluster(cluster: Any, account_id: str, region_name: str) -> None:
    backend = _ecs(account_id, region_name)
    active = [
        s
        for s in backend.services.values()
        if s.cluster_name == cluster.name and s.status == "ACTIVE"
    ]
    if active:  # ECS refuses too: ClusterContainsServicesException
        raise RuntimeError(f"cluster {cluster.name} still has services")
    backend.delete_cluster(cluster.name)


def _delete_service(service: Any, account_id: str, region_name: str) -> None:
    _ecs(account_id, region_name).delete_service(service.cluster_name, service.name, force=True)


def _deregister_task_definition(task_definition: Any, account_id: str, region_name: str) -> None:
    _ecs(account_id, region_name).deregister_task_definition(task_definition.arn)


def _elbv2(account_id: str, region_name: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account_id][region_name]


def _delete_listener(listener: Any, account_id: str, region_name: str) -> None:
    _elbv2(account_id, region_name).delete_listener(listener.arn)


def _delete_listener_rule(rule: Any, account_id: str, region_name: str) -> None:
    _elbv2(account_id, region_name).delete_rule(rule.arn)


def _delete_target_group(target_group: Any, account_id: str, region_name: str) -> None:
    _elbv2(account_id, region_name).delete_target_group(target_group.arn)


def _deletes() -> list[tuple[type[Any], _Delete]]:
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress
    from moto.ec2.models.flow_logs import FlowLogs
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.nat_gateways import NatGateway
    from moto.ec2.models.route_tables import Route, RouteTable
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpn_gateway import VPCGatewayAttachment
    from moto.ecs.models import Cluster, Service, TaskDefinition
    from moto.elbv2.models import FakeListener, FakeListenerRule, FakeTargetGroup

    return [
        (RouteTable, _delete_route_table),
        (Route, _delete_route),
        (SubnetRouteTableAssociation, _delete_subnet_association),
        (NatGateway, _delete_nat_gateway),
        (ElasticAddress, _release_address),
        (VPCGatewayAttachment, _detach_gateway),
        (InternetGateway, _delete_internet_gateway),
        (FlowLogs, _delete_flow_log),
        (Cluster, _delete_cluster),
        (Service, _delete_service),
        (TaskDefinition, _deregister_task_definition),
        (FakeListener, _delete_listener),
        (FakeListenerRule, _delete_listener_rule),
        (FakeTargetGroup, _delete_target_group),
    ]


def delete_what_moto_skips() -> None:
    """moto's stack deletion calls `resource.delete(account_id, region_name)` where a model has
    one: give it to every model above that lacks it."""
    for model, delete in _deletes():
        if "delete" in vars(model):
            continue  # a later moto implements it: use moto's own

        def method(self: Any, account_id: str, region_name: str, _delete: _Delete = delete) -> None:
            try:
                _delete(self, account_id, region_name)
            except Exception as exc:
                # Gone already (a load balancer takes its listeners and rules with it):
                # CloudFormation counts a resource it cannot find as deleted.
                if "NotFound" not in type(exc).__name__ and "NotFound" not in str(exc):
                    raise

        model.delete = method
