"""Evaluate IAM policy documents (resource policies: SNS topic, KMS key) the way AWS does,
for the requests the emulator never authorizes.

Two parts: :class:`CfnValues` turns a synthesized template's values (Ref, Fn::GetAtt,
Fn::Join, Fn::Sub) into the strings AWS would see, with a given account and region; and
:func:`evaluate` decides one request against one policy document: an explicit Deny wins, then
an Allow, else the implicit deny. Principal, Action, Resource (and their Not- forms) and the
condition operators a resource policy here uses are evaluated; anything else raises
:class:`UnsupportedPolicy` rather than being guessed at, so a new construct cannot pass by
using what the evaluator does not understand.

Semantics follow the IAM policy reference: values of one condition key are ORed, keys and
operators are ANDed; a key absent from the request fails a positive operator and satisfies a
negated one (`...IfExists` is satisfied by an absent key); ArnLike/ArnEquals compare each of
the six colon-separated ARN parts with `*`/`?` wildcards; String and Action matching follow
their case rules (actions case-insensitive, strings and ARNs case-sensitive).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class UnsupportedPolicy(ValueError):
    """A policy element, condition operator or template function the evaluator does not
    model: fail the check instead of guessing."""


# ---------------------------------------------------------------- template values


@dataclass(frozen=True)
class CfnValues:
    """Resolves CloudFormation values of one template to what AWS would see. Resources
    without an explicit name get their logical id as name, which is enough to match Refs and
    GetAtts of the same template against each other."""

    template: Mapping[str, Any]
    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"

    def resolve(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) and len(value) == 1:
            ((fn, arg),) = value.items()
            handler = _FUNCTIONS.get(fn)
            if handler is not None:
                return handler(self, arg)
        raise UnsupportedPolicy(f"cannot resolve {value!r}")

    def resolve_all(self, value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value]
        return [self.resolve(v) for v in items]

    def resource(self, logical_id: str) -> Mapping[str, Any]:
        found: Mapping[str, Any] | None = self.template.get("Resources", {}).get(logical_id)
        if found is None:
            raise UnsupportedPolicy(f"no resource {logical_id} in the template")
        return found

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"

    def name(self, logical_id: str) -> str:
        """The physical name: the resource's own name property, else its logical id."""
        r = self.resource(logical_id)
        prop = _NAME_PROPERTY.get(r["Type"])
        given = r.get("Properties", {}).get(prop) if prop else None
        return self.resolve(given) if given is not None else logical_id

    def ref(self, target: str) -> str:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if target in pseudo:
            return pseudo[target]
        kind = self.resource(target)["Type"]
        if kind == "AWS::SNS::Topic":
            return self.arn("sns", self.name(target))
        return self.name(target)  # a rule, an alarm, a key (its id): the name

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.resource(logical_id)["Type"]
        name = self.name(logical_id)
        arns: dict[tuple[str, str], Callable[[], str]] = {
            ("AWS::SNS::Topic", "TopicArn"): lambda: self.arn("sns", name),
            ("AWS::SNS::Topic", "TopicName"): lambda: name,
            ("AWS::KMS::Key", "Arn"): lambda: self.arn("kms", f"key/{name}"),
            ("AWS::KMS::Key", "KeyId"): lambda: name,
            ("AWS::Events::Rule", "Arn"): lambda: self.arn("events", f"rule/{name}"),
            ("AWS::CloudWatch::Alarm", "Arn"): lambda: self.arn("cloudwatch", f"alarm:{name}"),
            ("AWS::CloudWatch::CompositeAlarm", "Arn"): lambda: self.arn(
                "cloudwatch", f"alarm:{name}"
            ),
            ("AWS::ECS::Cluster", "Arn"): lambda: self.arn("ecs", f"cluster/{name}"),
            ("AWS::IAM::Role", "Arn"): lambda: self.arn("iam", f"role/{name}", region=False),
        }
        build = arns.get((kind, attribute))
        if build is None:
            raise UnsupportedPolicy(f"Fn::GetAtt {kind}.{attribute} is not modelled")
        return build()


_NAME_PROPERTY: Final = {
    "AWS::SNS::Topic": "TopicName",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::CompositeAlarm": "AlarmName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::IAM::Role": "RoleName",
}


def _join(values: CfnValues, arg: Any) -> str:
    separator, parts = arg
    return str(separator).join(values.resolve(p) for p in parts)


def _sub(values: CfnValues, arg: Any) -> str:
    text, variables = (arg, {}) if isinstance(arg, str) else arg

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in variables:
            return values.resolve(variables[name])
        if "." in name:
            return values.get_att(*name.split(".", 1))
        return values.ref(name)

    return re.sub(r"\$\{([^!}][^}]*)\}", replace, str(text))


_FUNCTIONS: Final[dict[str, Callable[[CfnValues, Any], str]]] = {
    "Ref": lambda v, a: v.ref(a),
    "Fn::GetAtt": lambda v, a: v.get_att(*(a.split(".", 1) if isinstance(a, str) else a)),
    "Fn::Join": _join,
    "Fn::Sub": _sub,
}


# ---------------------------------------------------------------- requests and decisions


@dataclass(frozen=True)
class Request:
    """One API call as the authorizer sees it. `principal` is ("Service", "x.amazonaws.com")
    or ("AWS", arn); `context` holds the condition keys the request carries (single values)."""

    principal: tuple[str, str]
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    allowed_by: tuple[str, ...]
    denied_by: tuple[str, ...]

    def __str__(self) -> str:
        if self.denied_by:
            return f"explicitly denied by {', '.join(self.denied_by)}"
        if self.allowed:
            return f"allowed by {', '.join(self.allowed_by)}"
        return "implicitly denied: no statement allows it"


_STATEMENT_KEYS: Final = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)


def evaluate(document: Mapping[str, Any], request: Request, values: CfnValues) -> Decision:
    """Decides `request` against one policy document (of the template `values` resolves)."""
    allowed: list[str] = []
    denied: list[str] = []
    for index, statement in enumerate(_statements(document)):
        unknown = set(statement) - _STATEMENT_KEYS
        if unknown:
            raise UnsupportedPolicy(f"statement elements {sorted(unknown)}")
        if not _applies(statement, request, values):
            continue
        label = str(statement.get("Sid", f"statement {index}"))
        effect = statement.get("Effect")
        if effect == "Deny":
            denied.append(label)
        elif effect == "Allow":
            allowed.append(label)
        else:
            raise UnsupportedPolicy(f"Effect {effect!r}")
    return Decision(bool(allowed) and not denied, tuple(allowed), tuple(denied))


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, Mapping) else list(found)


def _applies(statement: Mapping[str, Any], request: Request, values: CfnValues) -> bool:
    return (
        _element(statement, "Principal", lambda p: _principal_matches(p, request, values))
        and _element(statement, "Action", lambda a: _any_glob(a, request.action, values, True))
        and _element(statement, "Resource", lambda r: _any_glob(r, request.resource, values))
        and _conditions_hold(statement.get("Condition", {}), request, values)
    )


def _element(statement: Mapping[str, Any], name: str, matches: Callable[[Any], bool]) -> bool:
    """`name` or `Not<name>`: exactly one must be present for the statement to apply."""
    if name in statement:
        return matches(statement[name])
    if f"Not{name}" in statement:
        return not matches(statement[f"Not{name}"])
    raise UnsupportedPolicy(f"statement without {name} or Not{name}")


def _principal_matches(principal: Any, request: Request, values: CfnValues) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicy(f"Principal {principal!r}")
    kind, who = request.principal
    for key, given in principal.items():
        if key not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise UnsupportedPolicy(f"Principal type {key!r}")
        literal = given if isinstance(given, list) else [given]
        if key == "AWS" and "*" in literal:
            return True
        # Only the request's own principal type is resolved: a role's ARN in another
        # statement cannot name a service.
        if key == kind and who in values.resolve_all(given):
            return True
    return False


def _any_glob(patterns: Any, value: str, values: CfnValues, fold: bool = False) -> bool:
    return any(_glob(p, value, fold) for p in values.resolve_all(patterns))


def _glob(pattern: str, value: str, fold: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = (re.IGNORECASE | re.DOTALL) if fold else re.DOTALL
    return re.fullmatch(regex, value, flags) is not None


# ---------------------------------------------------------------- conditions


def _string_equals(p: str, v: str) -> bool:
    return p == v


def _string_equals_ignore_case(p: str, v: str) -> bool:
    return p.lower() == v.lower()


def _arn_like(p: str, v: str) -> bool:
    pattern, value = p.split(":", 5), v.split(":", 5)
    if len(pattern) != 6 or len(value) != 6:
        return False
    return all(_glob(a, b) for a, b in zip(pattern, value, strict=True))


def _bool(p: str, v: str) -> bool:
    return p.lower() == v.lower()


# operator -> (value matcher, negated)
_OPERATORS: Final[dict[str, tuple[Callable[[str, str], bool], bool]]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_glob, False),
    "StringNotLike": (_glob, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
}


def _conditions_hold(conditions: Any, request: Request, values: CfnValues) -> bool:
    if not isinstance(conditions, Mapping):
        raise UnsupportedPolicy(f"Condition {conditions!r}")
    context = {k.lower(): v for k, v in request.context.items()}
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            present = context.get(key.lower())
            if not _condition_holds(operator, values.resolve_all(expected), present):
                return False
    return True


def _condition_holds(operator: str, expected: Sequence[str], present: str | None) -> bool:
    if operator == "Null":
        (want_absent,) = expected
        return (present is None) == (want_absent.lower() == "true")
    base, if_exists = (
        (operator.removesuffix("IfExists"), True)
        if operator.endswith("IfExists")
        else (operator, False)
    )
    if base not in _OPERATORS:
        raise UnsupportedPolicy(f"condition operator {operator!r}")
    matcher, negated = _OPERATORS[base]
    if present is None:
        return if_exists or negated
    hit = any(matcher(p, present) for p in expected)
    return not hit if negated else hit
