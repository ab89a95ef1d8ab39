"""How a setting is declared: its description and its bounds live beside it.

Each field of a settings class is a :func:`setting`: a description (the docs generator
publishes it) and zero or more :class:`Rule` objects, the declarative checks of that one value.
:func:`check_settings` walks a config, applies every field's rules with the dotted path as the
setting's name, and then each class's ``cross_checks`` (the few rules that relate two settings).

Why not pydantic: every message names the setting *and* a fix written for it, the value's path
depends on where a nested class sits (``app.health_check`` vs ``redis.health_check``), and the
config must stay a frozen dataclass (``dataclasses.replace``, read-only mappings). Rules on
dataclass metadata keep all of that and remove the repetition.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, dataclass_transform

from infra.config.errors import ConfigError

DESCRIPTION: Final = "description"
RULES: Final = "rules"

T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    """One check of one value. `problem` and `fix` are format strings over `value` (and the
    rule's own `lo`, `hi` or `choices`), so the numbers in a message are the ones enforced.
    With `each`, the rule applies to every item of a tuple, or every value of a mapping (then
    the setting is named `<path>.<key>`)."""

    ok: Callable[[Any], bool]
    problem: str
    fix: str
    each: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)

    def check(self, path: str, value: Any) -> None:
        if value is None:  # unset optional setting: None-ness is the type's business
            return
        if not self.each:
            items: Sequence[tuple[str, Any]] = [(path, value)]
        elif isinstance(value, Mapping):
            items = [(f"{path}.{key}", item) for key, item in value.items()]
        else:
            items = [(path, item) for item in value]
        for name, item in items:
            if not self.ok(item):
                raise ConfigError(
                    name,
                    self.problem.format(value=item, **self.params),
                    self.fix.format(value=item, **self.params),
                )


def between(lo: int, hi: int, problem: str, fix: str, *, each: bool = False) -> Rule:
    return Rule(lambda v: lo <= v <= hi, problem, fix, each, {"lo": lo, "hi": hi})


def at_least(lo: int, problem: str, fix: str) -> Rule:
    return Rule(lambda v: v >= lo, problem, fix, params={"lo": lo})


def at_most(hi: int, problem: str, fix: str) -> Rule:
    return Rule(lambda v: v <= hi, problem, fix, params={"hi": hi})


def one_of(choices: Collection[Any], problem: str, fix: str) -> Rule:
    shown = ", ".join(map(str, choices))
    return Rule(lambda v: v in choices, problem, fix, params={"choices": shown})


def matches(pattern: re.Pattern[str], problem: str, fix: str, *, each: bool = False) -> Rule:
    return Rule(lambda v: bool(pattern.match(v)), problem, fix, each)


def setting(
    description: str,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | None = None,
    rules: Sequence[Rule] = (),
) -> Any:
    """A settings-class field with its description and rules (a dataclass field specifier)."""
    metadata = {DESCRIPTION: description, RULES: tuple(rules)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(setting,))
def settings_class(cls: type[T]) -> type[T]:
    """A frozen, keyword-only dataclass whose fields are :func:`setting`s."""
    return dataclass(frozen=True, kw_only=True)(cls)


def check_settings(obj: Any, prefix: str = "") -> None:
    """Every field's rules (nested settings first, in declaration order), then the class's
    `cross_checks(prefix)`. Raises ConfigError naming the first invalid setting."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            check_settings(value, prefix=f"{path}.")
            continue
        for rule in f.metadata.get(RULES, ()):
            rule.check(path, value)
    cross_checks: Callable[[str], None] | None = getattr(obj, "cross_checks", None)
    if cross_checks is not None:
        cross_checks(prefix)


def description(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get(DESCRIPTION, ""))
