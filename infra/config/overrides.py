"""Dotted-path settings: the `-c set:<path>=<value>` override parser and the settings list.

Overrides arrive as strings (CDK context, CLI flags); they are coerced to the field's type and
applied before the config is built, so validation runs once, on the final values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from infra.config.errors import ConfigError
from infra.config.spec import description


class Setting(NamedTuple):
    """One overridable setting of a config, as the docs and error messages list it."""

    path: str
    type_name: str
    value: Any
    description: str


def settings_of(config: object, prefix: str = "") -> list[Setting]:
    """Every leaf setting of `config` (nested settings classes flattened), in field order."""
    rows: list[Setting] = []
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        path = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            rows += settings_of(value, prefix=f"{path}.")
        else:
            rows.append(Setting(path, _type_name(hints[f.name]), value, description(f)))
    return rows


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("collections.abc.", "")


def build(cls: type[Any], given: Mapping[str, Any], overrides: Mapping[str, Any]) -> Any:
    """`cls(**given)` with dotted-path `overrides` (strings from the command line, coerced to
    the field types; typed values from a stage file, used as they are), nested settings rebuilt
    the same way. A mapping value is merged into the setting's current mapping. An unknown path
    is an error listing the valid ones."""
    return _build(cls, given, overrides, prefix="", valid=lambda: _paths(cls))


def _paths(cls: type[Any], prefix: str = "") -> list[str]:
    """Every leaf setting path of a settings class, from its type hints."""
    out: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out += _paths(typing.cast(type[Any], hint), f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def _build(
    cls: type[Any],
    given: Mapping[str, Any],
    overrides: Mapping[str, Any],
    prefix: str,
    valid: typing.Callable[[], list[str]],
) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    nested: dict[str, dict[str, Any]] = {}
    kwargs = dict(given)
    for path, raw in sorted(overrides.items()):
        head, _, rest = path.partition(".")
        if head not in fields:
            raise ConfigError(
                f"{prefix}{path}", "no such setting", f"use one of: {', '.join(valid())}"
            )
        if rest:
            nested.setdefault(head, {})[rest] = raw
        else:
            value = _coerce(f"{prefix}{head}", hints[head], raw)
            if isinstance(value, Mapping):
                current = kwargs.get(head, _default(fields[head]))
                value = types.MappingProxyType({**current, **value})
            kwargs[head] = value
    for head, sub in nested.items():
        current = kwargs.get(head, _default(fields[head]))
        if not dataclasses.is_dataclass(current):
            first = next(iter(sub))
            raise ConfigError(
                f"{prefix}{head}.{first}", "no such setting", f"`{head}` has no sub-settings"
            )
        current_values = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
        kwargs[head] = _build(
            type(current), current_values, sub, prefix=f"{prefix}{head}.", valid=valid
        )
    return cls(**kwargs)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise ConfigError(f.name, "is required", f"set {f.name}")


def _coerce(path: str, hint: Any, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in args:
        if raw.strip().lower() in ("", "none", "null"):
            return None
        inner = next(a for a in args if a is not type(None))
        return _coerce(path, inner, raw)
    parse = _PARSERS.get(hint) or _PARSERS.get(typing.get_origin(hint))
    if parse is None:
        raise ConfigError(
            path, "cannot be set from the command line", "change it in infra/config/stages.py"
        )
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(
            path, f"{raw!r} is not a valid {_type_name(hint)}", "pass a value of that type"
        ) from exc


def _parse_bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


# How a command-line value becomes each settable type (a tuple: comma-separated items).
_PARSERS: dict[Any, Callable[[str], Any]] = {
    bool: _parse_bool,
    int: int,
    float: float,
    str: str,
    tuple: lambda raw: tuple(s.strip() for s in raw.split(",") if s.strip()),
}
