"""Names that end in their stack's id, so no earlier incarnation's namesake can collide."""

from __future__ import annotations

from aws_cdk import Fn, Stack
from constructs import Construct


def stack_unique_name(scope: Construct, prefix: str) -> str:
    """`<prefix>-<first group of the stack id's UUID>` (8 hex digits), as a token.

    A stack created again after a delete gets a new id, so a resource it retained (and whose
    name therefore still exists) can never block the new one. The name is stable for the
    stack's whole life: updates never rename, and so never replace, the resource."""
    stack_uuid = Fn.select(2, Fn.split("/", Stack.of(scope).stack_id))
    return Fn.join("-", [prefix, Fn.select(0, Fn.split("-", stack_uuid))])
