"""The local AWS emulator: moto's server, with compatibility fixes for CDK templates.

Run as `python -m infra.rehearsal.emulator -H 127.0.0.1 -p PORT` (same flags as `moto_server`).

moto is an emulator, not AWS; where it mishandles valid CloudFormation that our stacks emit,
the fix goes here (never into the templates, which must stay what real AWS receives). Each fix
says which moto behaviour it corrects.
"""

from __future__ import annotations

import sys
from typing import Any


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
                {"TagKey": t.get("Key", t.get("TagKey")), "TagValue": t.get("Value", t.get("TagValue"))}
                for t in tags
            ]
        key: Key = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        return key

    Key.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]


def _secrets_manager_secret_in_cloudformation() -> None:
    """moto's CloudFormation has no AWS::SecretsManager::Secret: the resource is skipped, its
    `Ref` (the secret's ARN) resolves to nothing, and every IAM statement granting read on it
    loses its Resource, so the stack fails with MalformedPolicyDocument. Register a model that
    creates the secret through moto's own Secrets Manager backend."""
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

    class EmulatedSecret(CloudFormationModel):  # type: ignore[misc]
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
        def create_from_cloudformation_json(  # type: ignore[override]
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
        def update_from_cloudformation_json(  # type: ignore[override]
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
        def delete_from_cloudformation_json(  # type: ignore[override]
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


FIXES = (_kms_key_tags_from_cloudformation, _secrets_manager_secret_in_cloudformation)


def main(argv: list[str]) -> int:
    for fix in FIXES:
        fix()
    from moto.server import main as moto_main

    moto_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
