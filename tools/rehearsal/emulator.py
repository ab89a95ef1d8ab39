"""The local AWS emulator: moto's server, with compatibility fixes for CDK templates.

Run as `python -m tools.rehearsal.emulator -H 127.0.0.1 -p PORT` (same flags as `moto_server`).

moto is an emulator, not AWS; where it mishandles valid CloudFormation that our stacks emit,
the fix goes here (never into the templates, which must stay what real AWS receives). Each fix
says which moto behaviour it corrects.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tools.rehearsal.emulator_deletes import delete_what_moto_skips

# The models registered below. moto finds CloudFormation models through
# CloudFormationModel.__subclasses__(), which holds classes only weakly: a class defined inside
# a fix function must be kept alive here, or a garbage collection unregisters it.
_MODELS: list[type] = []


def _kms_key_tags_from_cloudformation() -> None:
    """AWS::KMS::Key `Tags` use CloudFormation's Key/Value form; moto's CloudFormation handler
    passes them to the KMS API tagger, which expects TagKey/TagValue, and fails the whole
    change set with KeyError('TagKey')."""
    from moto.kms.models import Key

    original = Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: type[Key],
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Key:
        props = cloudformation_json.get("Properties", {})
        tags = props.get("Tags")
        if tags:
            props["Tags"] = [
                {
                    "TagKey": t.get("Key", t.get("TagKey")),
                    "TagValue": t.get("Value", t.get("TagValue")),
                }
                for t in tags
            ]
        key: Key = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        return key

    Key.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment,arg-type]


def _secrets_manager_secret_in_cloudformation() -> None:
    """moto's CloudFormation has no AWS::SecretsManager::Secret: the resource is skipped, its
    `Ref` (the secret's ARN) resolves to nothing, and every IAM statement granting read on it
    loses its Resource, so the stack fails with MalformedPolicyDocument. Register a model that
    creates the secret through moto's own Secrets Manager backend."""
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class EmulatedSecret(CloudFormationModel):
        # moto's model metaclass derives the service from the module path.
        __module__ = "moto.secretsmanager.models"

        def __init__(self, arn: str, name: str) -> None:
            self.arn = arn
            self.name = name

        @property
        def physical_resource_id(self) -> str:
            return self.arn  # `Ref` of a secret is its ARN

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SecretsManager::Secret"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Id"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> EmulatedSecret:
            props = cloudformation_json.get("Properties", {})
            name = props.get("Name", resource_name)
            backend = secretsmanager_backends[account_id][region_name]
            created = backend.create_secret(
                name=name,
                secret_string=props.get("SecretString", "{}"),
                secret_binary=None,
                description=props.get("Description"),
                tags=props.get("Tags"),
                kms_key_id=props.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
            import json

            return cls(json.loads(created)["ARN"], name)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: EmulatedSecret,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> EmulatedSecret:
            # Like CloudFormation: an unchanged SecretString leaves the stored value alone.
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> None:
            backend = secretsmanager_backends[account_id][region_name]
            props = cloudformation_json.get("Properties", {})
            backend.delete_secret(
                props.get("Name", resource_name),
                recovery_window_in_days=None,
                force_delete_without_recovery=True,
            )

    _MODELS.append(EmulatedSecret)


def _cloudwatch_alarms_in_cloudformation() -> None:
    """moto's CloudFormation has no AWS::CloudWatch::Alarm or AWS::CloudWatch::CompositeAlarm:
    both are skipped, and the first `Fn::GetAtt` on one (the composite's rule, the dashboard's
    alarm widget) fails the whole stack with "references undefined resource". Register models
    that store them through moto's own CloudWatch backend, which already keeps composite
    alarms (PutCompositeAlarm is PutMetricAlarm with a rule there), so DescribeAlarms lists
    both kinds."""
    _emulated_alarm_model("AWS::CloudWatch::Alarm", "AlarmName")
    _emulated_alarm_model("AWS::CloudWatch::CompositeAlarm", "AlarmName")


def _metric_data_queries(metrics: list[Any]) -> list[Any] | None:
    """An alarm's `Metrics` (math over metrics) as moto's CloudWatch backend takes them."""
    from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat

    if not metrics:
        return None
    out: list[Any] = []
    for m in metrics:
        stat = m.get("MetricStat")
        metric_stat = None
        if stat:
            metric = stat["Metric"]
            dims = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
            metric_stat = MetricStat(
                Metric(metric["MetricName"], metric["Namespace"], dims),
                stat.get("Period"),
                stat.get("Stat"),
                stat.get("Unit"),
            )
        out.append(
            MetricDataQuery(
                m["Id"],
                m.get("Label"),
                m.get("Period"),
                m.get("ReturnData"),
                m.get("Expression"),
                metric_stat,
            )
        )
    return out


def _put_alarm(props: Any, name: str, account_id: str, region_name: str) -> Any:
    """PutMetricAlarm (a rule makes it composite) from an alarm resource's properties."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region_name]
    return backend.put_metric_alarm(
        name=name,
        namespace=props.get("Namespace"),
        metric_name=props.get("MetricName"),
        metric_data_queries=_metric_data_queries(props.get("Metrics", [])),
        comparison_operator=props.get("ComparisonOperator"),
        evaluation_periods=props.get("EvaluationPeriods"),
        datapoints_to_alarm=props.get("DatapointsToAlarm"),
        period=props.get("Period"),
        threshold=props.get("Threshold"),
        statistic=props.get("Statistic"),
        extended_statistic=props.get("ExtendedStatistic"),
        description=props.get("AlarmDescription"),
        dimensions=[{"name": d["Name"], "value": d["Value"]} for d in props.get("Dimensions", [])],
        alarm_actions=props.get("AlarmActions", []),
        ok_actions=props.get("OKActions", []),
        insufficient_data_actions=props.get("InsufficientDataActions", []),
        unit=props.get("Unit"),
        actions_enabled=props.get("ActionsEnabled", True),
        treat_missing_data=props.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=props.get("ThresholdMetricId"),
        rule=props.get("AlarmRule"),
        tags=props.get("Tags", []),
    )


def _emulated_alarm_model(cfn_type: str, name_key: str) -> None:
    """Register a model storing `cfn_type` resources through moto's CloudWatch backend."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.common_models import CloudFormationModel

    class EmulatedAlarm(CloudFormationModel):
        __module__ = "moto.cloudwatch.models"

        def __init__(self, name: str, arn: str) -> None:
            self.name = name
            self.arn = arn

        @property
        def physical_resource_id(self) -> str:
            return self.name  # `Ref` of an alarm is its name

        @staticmethod
        def cloudformation_name_type() -> str:
            return name_key

        @staticmethod
        def cloudformation_type() -> str:
            return cfn_type

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> EmulatedAlarm:
            props = cloudformation_json.get("Properties", {})
            name = props.get(name_key, resource_name)
            alarm = _put_alarm(props, name, account_id, region_name)
            return cls(name, alarm.alarm_arn)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: EmulatedAlarm,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> EmulatedAlarm:
            # PutMetricAlarm replaces an alarm of the same name, as an update does.
            return cls.create_from_cloudformation_json(
                original_resource.name, cloudformation_json, account_id, region_name
            )

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> None:
            props = cloudformation_json.get("Properties", {})
            backend = cloudwatch_backends[account_id][region_name]
            backend.delete_alarms([props.get(name_key, resource_name)])

    EmulatedAlarm.__name__ = EmulatedAlarm.__qualname__ = cfn_type.split("::")[-1]
    _MODELS.append(EmulatedAlarm)


def _iam_oidc_provider_in_cloudformation() -> None:
    """moto's CloudFormation has no AWS::IAM::OIDCProvider: it is skipped, its `Ref` (the
    provider's ARN) resolves to nothing, and the deploy role's trust policy loses its
    federated principal. Create it through moto's IAM backend, which keeps OIDC providers."""
    from moto.core.common_models import CloudFormationModel
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    class EmulatedOidcProvider(CloudFormationModel):
        __module__ = "moto.iam.models"

        def __init__(self, arn: str) -> None:
            self.arn = arn

        @property
        def physical_resource_id(self) -> str:
            return self.arn  # `Ref` of an OIDC provider is its ARN

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::IAM::OIDCProvider"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> EmulatedOidcProvider:
            props = cloudformation_json.get("Properties", {})
            backend = iam_backends[account_id][get_partition(region_name)]
            provider = backend.create_open_id_connect_provider(
                url=props["Url"],
                thumbprint_list=props.get("ThumbprintList", []),
                client_id_list=props.get("ClientIdList", []),
                tags=props.get("Tags", []),
            )
            return cls(provider.arn)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: EmulatedOidcProvider,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> EmulatedOidcProvider:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> None:
            url = cloudformation_json.get("Properties", {}).get("Url", "")
            host = url.removeprefix("https://")
            partition = get_partition(region_name)
            iam_backends[account_id][partition].delete_open_id_connect_provider(
                f"arn:{partition}:iam::{account_id}:oidc-provider/{host}"
            )

    _MODELS.append(EmulatedOidcProvider)


def _target_group_attributes() -> None:
    """moto's target group has no `Fn::GetAtt` support at all: the alarms' `TargetGroupFullName`
    dimension crashes the change set with AttributeError (a 500 the CLI does not report, so
    every resource after it is silently missing). Answer the attributes CloudFormation
    documents, derived from the ARN the way AWS forms them."""
    from moto.elbv2.models import FakeTargetGroup

    def get(self: FakeTargetGroup, attribute_name: str) -> Any:
        if attribute_name == "TargetGroupFullName":
            return self.arn.split(":", 5)[5]  # targetgroup/<name>/<id>
        if attribute_name == "TargetGroupName":
            return self.name
        if attribute_name == "TargetGroupArn":
            return self.arn
        if attribute_name == "LoadBalancerArns":
            return list(getattr(self, "load_balancer_arns", []))
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    FakeTargetGroup.get_cfn_attribute = get  # type: ignore[attr-defined]
    FakeTargetGroup.has_cfn_attr = classmethod(  # type: ignore[method-assign,assignment]
        lambda cls, attr: (
            attr in ("TargetGroupFullName", "TargetGroupName", "TargetGroupArn", "LoadBalancerArns")
        )
    )


def _load_balancer_canonical_zone() -> None:
    """moto's load balancer has no `Fn::GetAtt CanonicalHostedZoneID` (it logs "not
    implemented" and leaves the intrinsic unresolved), so an alias record to it would point at
    the text of the intrinsic. Answer the zone id that DescribeLoadBalancers reports."""
    from moto.elbv2.models import FakeLoadBalancer

    original = FakeLoadBalancer.get_cfn_attribute

    def get(self: FakeLoadBalancer, attribute_name: str) -> Any:
        if attribute_name == "CanonicalHostedZoneID":
            return self.canonical_hosted_zone_id
        return original(self, attribute_name)

    FakeLoadBalancer.get_cfn_attribute = get  # type: ignore[method-assign]


def _log_group_kms_key_from_cloudformation() -> None:
    """moto's AWS::Logs::LogGroup passes the template's properties to the log group as they
    are, but reads the key as `kmsKeyId` (the API's spelling), so `KmsKeyId` is dropped and
    every group describes as unencrypted."""
    from moto.logs.models import LogGroup

    original = LogGroup.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: type[LogGroup],
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> LogGroup:
        props = cloudformation_json.get("Properties", {})
        if "KmsKeyId" in props:
            props["kmsKeyId"] = props.pop("KmsKeyId")
        group: LogGroup = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        return group

    LogGroup.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment,arg-type]


def _change_set_outputs() -> None:
    """moto's ExecuteChangeSet (the path `cdk deploy` takes) stores the new template but never
    re-parses it into the stack's outputs, so DescribeStacks shows no Outputs after a deploy."""
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute(
        self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
    ) -> None:
        original(self, change_set_name, stack_name)
        for change_set in self.change_sets.values():
            if change_set_name in (change_set.change_set_id, change_set.change_set_name):
                stack = self.stacks[change_set.stack_id]
                stack._parse_template()
                stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute  # type: ignore[method-assign]


def _exports_through_change_sets() -> None:
    """moto registers a stack's exports, and resolves `Fn::ImportValue` against the others',
    only for CreateStack. A stack `cdk deploy` creates through a change set neither publishes
    its exports nor sees anyone else's, so the service stack fails with "No export named ...".
    Give change-set stacks the region's exports, and publish theirs once executed (after
    `_change_set_outputs` has parsed their outputs)."""
    from moto.cloudformation.models import CloudFormationBackend

    create, execute = (
        CloudFormationBackend.create_change_set,
        CloudFormationBackend.execute_change_set,
    )

    def create_change_set(self: CloudFormationBackend, *args: Any, **kwargs: Any) -> Any:
        result = create(self, *args, **kwargs)
        for stack in self.stacks.values():
            stack.cross_stack_resources = self.exports
            stack.resource_map.cross_stack_resources = self.exports
        return result

    def execute_change_set(
        self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
    ) -> None:
        execute(self, change_set_name, stack_name)
        for change_set in self.change_sets.values():
            if change_set_name in (change_set.change_set_id, change_set.change_set_name):
                stack = self.stacks[change_set.stack_id]
                for name in [
                    n for n, e in self.exports.items() if e.exporting_stack_id == stack.stack_id
                ]:
                    del self.exports[name]
                for export in stack.exports:
                    self.exports[export.name] = export

    CloudFormationBackend.create_change_set = create_change_set  # type: ignore[method-assign]
    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


def _resource_errors_in_cloudformation_shape() -> None:
    """A resource's own API error inside ExecuteChangeSet (Secrets Manager's
    ResourceExistsException for a namesake an earlier stack retained, say) reaches the CDK CLI
    as that service's JSON body in a CloudFormation (XML) response, and the CLI reports only
    "XML parse error". Answer it as a CloudFormation error naming the code and the message
    (CloudFormation itself reports it as the resource's CREATE_FAILED reason)."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend
    from moto.core.exceptions import JsonRESTError

    execute = CloudFormationBackend.execute_change_set

    def execute_change_set(
        self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
    ) -> None:
        try:
            execute(self, change_set_name, stack_name)
        except JsonRESTError as exc:
            message = f"Resource handler returned message: {exc.error_type}: {exc.message}"
            raise ValidationError(stack_name, message=message) from exc

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]


def _change_sets_scoped_to_their_stack() -> None:
    """In CloudFormation a change set name is unique per stack; moto looks names up across all
    stacks. `cdk deploy` names every change set `cdk-deploy-change-set`, so on a second deploy
    moto describes, executes or deletes another stack's change set. Resolve the name within the
    request's StackName (the newest match) and hand moto the change set's ARN."""
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.cloudformation.responses import CloudFormationResponse

    class ChangeSetNotFoundError(CloudFormationError):
        # What CloudFormation answers (and the CDK CLI expects before re-creating its change
        # set); moto answers "ValidationError: Stack with id <change set name> does not exist".
        code = "ChangeSetNotFound"

    def resolve(self: CloudFormationResponse) -> bool:
        """Point the request at the stack's own change set; False if it has none by that name."""
        name = self._get_param("ChangeSetName")
        stack = self._get_param("StackName")
        change_sets = self.cloudformation_backend.change_sets
        if not name or name in change_sets or not stack:
            return True
        matches = [
            arn
            for arn, cs in change_sets.items()
            if cs.change_set_name == name and stack in (cs.stack_name, cs.stack_id)
        ]
        if not matches:
            return False
        if self.automated_parameter_parsing:
            self.params["ChangeSetName"] = matches[-1]
        else:
            self.querystring["ChangeSetName"] = [matches[-1]]
        return True

    for method in ("describe_change_set", "delete_change_set", "execute_change_set"):
        original = getattr(CloudFormationResponse, method)

        def scoped(
            self: CloudFormationResponse, _original: Any = original, _m: str = method
        ) -> Any:
            if resolve(self):
                return _original(self)
            if _m == "delete_change_set":
                # The CLI deletes its previous change set before every deploy; CloudFormation
                # accepts that for a stack that has none.
                from moto.core.responses import EmptyResult

                return EmptyResult()
            raise ChangeSetNotFoundError(
                f"ChangeSet [{self._get_param('ChangeSetName')}] does not exist"
            )

        setattr(CloudFormationResponse, method, scoped)


def _ssm_parameter_previous_value() -> None:
    """On a stack update the CDK CLI sends `BootstrapVersion` with UsePreviousValue; moto keeps
    the previous *resolved* value ("30") instead of the SSM path and then looks up a parameter
    named "30", crashing with AttributeError. An SSM-typed value that names no parameter is
    such an already-resolved value: use it as is."""
    from moto.cloudformation.parsing import ResourceMap
    from moto.ssm.models import ssm_backends

    original = ResourceMap.parse_ssm_parameter

    def parse(self: ResourceMap, value: str, value_type: str) -> Any:
        backend = ssm_backends[self._account_id][self._region_name]
        if backend.get_parameter(value) is None:
            return value
        return original(self, value, value_type)

    ResourceMap.parse_ssm_parameter = parse  # type: ignore[method-assign]


def _task_definition_update_keys() -> None:
    """moto converts a task definition's PascalCase CloudFormation keys to the API's camelCase
    on create but not on update, so every updated revision has nameless, empty containers.
    Convert on update too, the same way create does."""
    from moto.core.utils import pascal_to_camelcase, remap_nested_keys
    from moto.ecs.models import TaskDefinition

    original = TaskDefinition.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def update(
        cls: type[TaskDefinition],
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        props = dict(cloudformation_json["Properties"])
        props["ContainerDefinitions"] = remap_nested_keys(
            props.get("ContainerDefinitions", []), pascal_to_camelcase
        )
        if props.get("Volumes") is not None:
            props["Volumes"] = remap_nested_keys(props["Volumes"], pascal_to_camelcase)
        fixed = {**cloudformation_json, "Properties": props}
        return original(cls, original_resource, new_resource_name, fixed, account_id, region_name)

    TaskDefinition.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]


# (physical id, {attribute: value}) of a resource an emulated model created.
Created = tuple[str, dict[str, str]]
_EMULATED_MODELS: list[type[Any]] = []


def _keep(*_args: Any) -> None:
    """A resource whose deletion the emulator needs not reproduce."""


def _emulated_model(
    cfn_type: str,
    module: str,
    create: Any,
    delete: Any = None,
) -> type[Any]:
    """A CloudFormation model for a type moto's CloudFormation skips, backed by moto's own API
    backend: `create(props, resource_name, account_id, region_name) -> (physical id,
    attributes)`; `delete(physical_id, props, account_id, region_name)`. An update keeps the
    resource as it is (moto's API backends have no in-place update for these)."""
    from moto.core.common_models import CloudFormationModel

    remove = delete or _keep

    class Emulated(CloudFormationModel):
        # moto's model metaclass derives the service from the module path.
        __module__ = module

        def __init__(self, physical_id: str, attributes: dict[str, str]) -> None:
            self.physical_id = physical_id
            self.attributes = attributes

        @property
        def physical_resource_id(self) -> str:
            return self.physical_id

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @staticmethod
        def cloudformation_type() -> str:
            return cfn_type

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return True

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.attributes.get(attribute_name, self.physical_id)

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            props = cloudformation_json.get("Properties", {})
            physical_id, attributes = create(props, resource_name, account_id, region_name)
            return cls(physical_id, attributes)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> None:
            props = cloudformation_json.get("Properties", {})
            remove(resource_name, props, account_id, region_name)

    Emulated.__name__ = Emulated.__qualname__ = "Emulated" + cfn_type.replace("::", "")
    # moto finds models through CloudFormationModel.__subclasses__(), which holds them weakly
    # (its own registry keeps only the first class of a name): keep every one alive.
    _EMULATED_MODELS.append(Emulated)
    return Emulated


def _cognito_in_cloudformation() -> None:
    """moto has a Cognito user-pool API but no CloudFormation model for AWS::Cognito::UserPool,
    UserPoolClient or UserPoolGroup: they are skipped, and every Ref to them (the task's
    AUTH_ISSUER, the client's pool) resolves to nothing. Create them through moto's
    cognito-idp backend, with the template's MFA, password policy and auth flows."""
    from moto.cognitoidp.models import cognitoidp_backends

    def backend(account_id: str, region_name: str) -> Any:
        return cognitoidp_backends[account_id][region_name]

    def create_pool(props: Any, name: str, account_id: str, region_name: str) -> Created:
        config = {k: v for k, v in props.items() if k not in ("UserPoolName", "UserPoolTags")}
        pool = backend(account_id, region_name).create_user_pool(
            props.get("UserPoolName", name), config
        )
        if props.get("MfaConfiguration"):
            backend(account_id, region_name).set_user_pool_mfa_config(
                pool.id,
                sms_config=None,
                token_config={"Enabled": "SOFTWARE_TOKEN_MFA" in props.get("EnabledMfas", [])},
                mfa_config=props["MfaConfiguration"],
            )
        issuer = f"https://cognito-idp.{region_name}.amazonaws.com/{pool.id}"
        return pool.id, {
            "Arn": pool.arn,
            "ProviderName": issuer.removeprefix("https://"),
            "ProviderURL": issuer,
            "UserPoolId": pool.id,
        }

    def delete_pool(physical_id: str, props: Any, account_id: str, region_name: str) -> None:
        if physical_id in backend(account_id, region_name).user_pools:
            backend(account_id, region_name).delete_user_pool(physical_id)

    def create_client(props: Any, name: str, account_id: str, region_name: str) -> Created:
        config = {k: v for k, v in props.items() if k not in ("UserPoolId", "GenerateSecret")}
        config.setdefault("ClientName", name)
        client = backend(account_id, region_name).create_user_pool_client(
            props["UserPoolId"], bool(props.get("GenerateSecret", False)), config
        )
        return client.id, {"ClientId": client.id, "Name": config["ClientName"]}

    def delete_client(physical_id: str, props: Any, account_id: str, region_name: str) -> None:
        # `props` holds the template's unresolved Ref to the pool: find the client's pool.
        for pool in backend(account_id, region_name).user_pools.values():
            pool.clients.pop(physical_id, None)

    def create_group(props: Any, name: str, account_id: str, region_name: str) -> Created:
        group_name = props.get("GroupName", name)
        backend(account_id, region_name).create_group(
            props["UserPoolId"],
            group_name,
            props.get("Description"),
            props.get("RoleArn"),
            props.get("Precedence"),
        )
        return group_name, {}

    module = "moto.cognitoidp.models"
    _emulated_model("AWS::Cognito::UserPool", module, create_pool, delete_pool)
    _emulated_model("AWS::Cognito::UserPoolClient", module, create_client, delete_client)
    # A group goes with its pool; one left in a retained pool is never used again (a stack
    # created again creates a new pool).
    _emulated_model("AWS::Cognito::UserPoolGroup", module, create_group)


def _wafv2_in_cloudformation() -> None:
    """moto has a WAFv2 API but no CloudFormation model for AWS::WAFv2::WebACL,
    WebACLAssociation or LoggingConfiguration: they are skipped and the association's
    `Fn::GetAtt WebACL.Arn` resolves to nothing. Create them through moto's wafv2 backend, so
    GetWebACLForResource and GetLoggingConfiguration answer like AWS after a deploy."""
    from moto.wafv2.models import wafv2_backends

    def backend(account_id: str, region_name: str) -> Any:
        return wafv2_backends[account_id][region_name]

    def create_acl(props: Any, name: str, account_id: str, region_name: str) -> Created:
        acl = backend(account_id, region_name).create_web_acl(
            name=props.get("Name", name),
            visibility_config=props["VisibilityConfig"],
            default_action=props["DefaultAction"],
            scope=props["Scope"],
            description=props.get("Description"),
            tags=props.get("Tags", []),
            rules=props.get("Rules", []),
            association_config=None,
            captcha_config=None,
            challenge_config=None,
            custom_response_bodies=None,
            token_domains=None,
        )
        return acl.arn, {"Arn": acl.arn, "Id": acl.id, "LabelNamespace": ""}

    def create_association(props: Any, name: str, account_id: str, region_name: str) -> Created:
        backend(account_id, region_name).associate_web_acl(props["WebACLArn"], props["ResourceArn"])
        return f"{props['WebACLArn']}|{props['ResourceArn']}", {}

    def create_logging(props: Any, name: str, account_id: str, region_name: str) -> Created:
        backend(account_id, region_name).put_logging_configuration(
            props["ResourceArn"],
            props["LogDestinationConfigs"],
            props.get("RedactedFields"),
            False,
            props.get("LoggingFilter"),
        )
        return props["ResourceArn"], {}

    # Deletes by physical id: the web ACL's ARN, "<web ACL ARN>|<resource ARN>", the ARN.
    def delete_acl(physical_id: str, props: Any, account_id: str, region_name: str) -> None:
        backend(account_id, region_name).wacls.pop(physical_id, None)

    def delete_association(physical_id: str, props: Any, account_id: str, region_name: str) -> None:
        backend(account_id, region_name).disassociate_web_acl(physical_id.split("|", 1)[1])

    def delete_logging(physical_id: str, props: Any, account_id: str, region_name: str) -> None:
        backend(account_id, region_name).logging_configurations.pop(physical_id, None)

    module = "moto.wafv2.models"
    _emulated_model("AWS::WAFv2::WebACL", module, create_acl, delete_acl)
    _emulated_model("AWS::WAFv2::WebACLAssociation", module, create_association, delete_association)
    _emulated_model("AWS::WAFv2::LoggingConfiguration", module, create_logging, delete_logging)


FIXES = (
    _change_sets_scoped_to_their_stack,
    _task_definition_update_keys,
    _ssm_parameter_previous_value,
    _kms_key_tags_from_cloudformation,
    _secrets_manager_secret_in_cloudformation,
    _cloudwatch_alarms_in_cloudformation,
    _iam_oidc_provider_in_cloudformation,
    _target_group_attributes,
    _load_balancer_canonical_zone,
    _change_set_outputs,
    _exports_through_change_sets,
    _resource_errors_in_cloudformation_shape,
    _log_group_kms_key_from_cloudformation,
    _cognito_in_cloudformation,
    _wafv2_in_cloudformation,
    delete_what_moto_skips,
)


def main(argv: list[str]) -> int:
    # Check authenticator-app codes like Cognito does (moto accepts any code otherwise).
    os.environ.setdefault("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", "true")
    for fix in FIXES:
        fix()
    from moto.server import main as moto_main

    moto_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
