"""Stage files: each stage's committed settings, `stages/<stage>.toml`.

A stage file holds what one deployment of a stage sets apart from the defaults in code
(:mod:`infra.config.stages`): its region, certificate and domain, who hears its alarms, which
networks reach it. Tables nest as the settings do (``[alarms]``, ``[app.health_check]``);
every key is checked against the settings classes, so an unknown key or a value of the wrong
type fails naming the file, the setting and the fix, before any setting's own rules run.

``[placeholders]`` holds example values (same keys, same types) that let CI and the tests
synthesize a stage before its operator filled in real ones. A value set outside that table
wins over its placeholder; a deploy refuses any setting still at its placeholder value
(:meth:`StageFile.placeholders_in_use`), so an example never reaches a real account.

Precedence, lowest first: the settings' defaults, the stage's defaults in code, the file's
placeholders, the file, then one-off overrides from the command line (``-c set:...``).
TOML because the standard library reads it (``tomllib``) and it has the types the settings
need: strings, integers, booleans, lists and tables.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from infra.config.errors import ConfigError
from infra.config.names import STAGE_FILES_DIR
from infra.config.settings import StageConfig

PLACEHOLDERS: Final = "placeholders"
# Settings a stage file may not hold, each with where it is set instead.
NOT_IN_A_STAGE_FILE: Final[Mapping[str, str]] = {
    "stage": "the file's name is the stage; choose the stage with STAGE=... (-c stage=...)",
    "app.image_tag": "the image changes with every release: pass IMAGE_TAG=... to make deploy",
    # Shared by every stage (one registry, one Fyntrix-CI stack per account): one stage's file
    # would rewrite what the other stages deploy.
    "repository_name": "it is shared by every stage: change its default in "
    "infra/config/settings.py",
    "image_retention_count": "it is shared by every stage: change its default in "
    "infra/config/settings.py",
    "ci": "Fyntrix-CI is deployed once per account: pass its settings to make deploy-ci "
    "(GITHUB_REPOSITORY=..., SET=ci.deploy_branch=...)",
}


@dataclass(frozen=True)
class StageFile:
    """One stage file, read and type-checked: dotted setting paths to typed values."""

    shown_as: str  # the path as messages show it
    settings: Mapping[str, Any]
    placeholders: Mapping[str, Any]

    def placeholders_in_use(self, config: StageConfig) -> list[str]:
        """Settings whose value in `config` is still their placeholder, sorted."""
        return sorted(
            path for path, value in self.placeholders.items() if value_at(config, path) == value
        )

    def origin(self, setting: str) -> str | None:
        """Where `setting` came from when that is this file, for an error message."""
        for paths, where in (
            (self.settings, self.shown_as),
            (self.placeholders, f"{self.shown_as} [{PLACEHOLDERS}]"),
        ):
            if any(setting == p or setting.startswith(f"{p}.") for p in paths):
                return where
        return None


def stage_file_path(stage: str, root: Path) -> Path:
    """Where the stage's committed file lives under the repository root `root`."""
    return root / STAGE_FILES_DIR / f"{stage}.toml"


def read_stage_file(path: Path, *, root: Path | None = None) -> StageFile:
    """Read and type-check the stage file at `path` (shown relative to `root` when inside)."""
    shown = str(path)
    if root is not None and path.resolve().is_relative_to(root.resolve()):
        shown = str(path.resolve().relative_to(root.resolve()))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            "stage_file",
            f"cannot read {shown} ({exc.strerror or exc})",
            f"restore the committed file (git checkout -- {shown}), or name an existing one "
            "with STAGE_FILE=<path> (-c stageFile=<path>)",
        ) from exc
    return parse_stage_file(text, shown_as=shown)


def parse_stage_file(text: str, *, shown_as: str) -> StageFile:
    """A stage file's text, checked against the settings classes."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            "stage_file", f"{shown_as} is not valid TOML ({exc})", "fix the line it names"
        ) from exc
    placeholders = doc.pop(PLACEHOLDERS, {})
    if not isinstance(placeholders, dict):
        raise ConfigError(
            PLACEHOLDERS,
            "is not a table",
            f"write placeholders as a [{PLACEHOLDERS}] table of settings",
            source=shown_as,
        )
    try:
        settings = _flatten(StageConfig, doc, prefix="")
        examples = _flatten(StageConfig, placeholders, prefix="")
    except ConfigError as exc:
        raise exc.from_source(shown_as) from exc
    return StageFile(shown_as=shown_as, settings=settings, placeholders=examples)


def value_at(config: object, path: str) -> Any:
    """The value of the dotted setting `path` in `config`."""
    value = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _flatten(cls: type[Any], table: Mapping[str, Any], *, prefix: str) -> dict[str, Any]:
    """{dotted path: typed value} for one table of settings class `cls`."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if path in NOT_IN_A_STAGE_FILE:
            raise ConfigError(path, "cannot be set in a stage file", NOT_IN_A_STAGE_FILE[path])
        if key not in fields:
            raise ConfigError(
                path,
                "no such setting",
                f"use one of: {', '.join(sorted(fields))} (docs/reference/settings.md lists "
                "every setting)",
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(
                    path, f"is a group of settings, not {_kind(value)}", f"write it as [{path}]"
                )
            out.update(_flatten(typing.cast(type[Any], hint), value, prefix=f"{path}."))
        else:
            out[path] = _typed(path, hint, value)
    return out


def _typed(path: str, hint: Any, value: Any) -> Any:
    """`value` as the setting's type, or ConfigError saying what to write instead."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return _typed(path, inner, value)
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if origin is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if origin in (Mapping, dict) and isinstance(value, dict):
        return {k: _typed(f"{path}.{k}", args[1], v) for k, v in value.items()}
    raise ConfigError(
        path,
        f"{value!r} is {_kind(value)}, not {_expected(hint)}",
        f"write {_example(hint)}",
    )


def _kind(value: Any) -> str:
    kinds: tuple[tuple[type, str], ...] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a number"),
        (str, "a string"),
        (list, "a list"),
        (dict, "a table"),
    )
    return next((name for kind, name in kinds if isinstance(value, kind)), "a date or time")


def _expected(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return "a list of strings"
    if typing.get_origin(hint) in (Mapping, dict):
        return "a table"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _example(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return 'a list such as ["a", "b"]'
    if typing.get_origin(hint) in (Mapping, dict):
        return "a table of name = value lines"
    return {
        bool: "true or false (no quotes)",
        int: "a whole number (no quotes)",
        float: "a number (no quotes)",
        str: 'a quoted string such as "value"',
    }.get(hint, "a value of that type")
