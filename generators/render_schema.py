"""Render's Blueprint JSON Schema, cached inside the repository for the generators and the
tests; `python -m tools.render_schema` (run by `make setup`) fills the cache.

Render publishes the schema at SCHEMA_URL without a licence, so it is not committed: setup
fetches it into `.cache/schemas/` (git-ignored) and checks it against the pins below. Without
internet it copies the file named by RENDER_SCHEMA_FILE, else `../shared/schemas/` beside the
clone; with none of them it fails with one line naming both ways. Nothing else in the project
reads the schema from outside the repository: generators/validate.py reads the cache only.

Why two pins: the copy we reviewed has its annotations (`description`, `title`, ...) stripped,
while the published file may carry them. A file is accepted when its bytes match PINNED_SHA256,
or when its *validation rules* (annotations removed, keys sorted) match PINNED_RULES_SHA256, so
wording changes upstream do not break setup but any rule change does. There is no override
switch: the committed render.yaml and the tests are checked against these exact rules, so a new
schema is adopted by reviewing it and updating the pins in a commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
SCHEMA_URL: Final = "https://render.com/schema/render.yaml.json"
SCHEMA_NAME: Final = "render.yaml.schema.json"
CACHE_DIR: Final = Path(".cache") / "schemas"  # relative to the repository root
ENV_VAR: Final = "RENDER_SCHEMA_FILE"
# The one place that may look outside the repository: the offline fallback beside the clone.
SHARED_FALLBACK: Final = Path("..") / "shared" / "schemas" / SCHEMA_NAME

# The schema as published on 2026-07-23 (annotations stripped), byte for byte.
PINNED_SHA256: Final = "cbecb06e77d9405fddd59a8fa9c2a456ab53e545011fa0af67a15b0b50937264"
# The same file's validation rules (rules_sha256 below).
PINNED_RULES_SHA256: Final = "792baecb5e51ddedaab9cc7514dca50aeb2459517852818c4836882d57a68697"

FETCH_TIMEOUT_S: Final = 20.0
MAX_SCHEMA_BYTES: Final = 4 * 1024 * 1024

# JSON Schema keywords that annotate but never change what validates.
_ANNOTATIONS: Final = frozenset(
    {"title", "description", "markdownDescription", "deprecated", "examples", "$comment"}
)
# Keywords whose value maps names to subschemas (the names themselves are data, kept as is).
_SCHEMA_MAPS: Final = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
_SCHEMA_LISTS: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMAS: Final = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
    }
)


class SchemaError(RuntimeError):
    """The schema is missing or is not the pinned one; the message says what to do."""


class _Unavailable(Exception):
    """A source that has no file to offer (offline, unset, absent)."""


def rules_only(schema: Any) -> Any:
    """`schema` without its annotation keywords, recursing only where values are schemas."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: rules_only(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [rules_only(sub) for sub in value]
        elif key in _SUBSCHEMAS:
            items = isinstance(value, list)  # draft-4 tuple `items`
            out[key] = [rules_only(sub) for sub in value] if items else rules_only(value)
        else:
            out[key] = value
    return out


def rules_sha256(schema: Any) -> str:
    canonical = json.dumps(rules_only(schema), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify(data: bytes, source: str) -> dict[str, Any]:
    """The parsed schema when `data` is the pinned schema; SchemaError naming `source` if not."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        schema = json.loads(data)
    except ValueError as exc:
        raise SchemaError(f"{source} is not JSON ({exc}), so not the Render schema") from exc
    if not isinstance(schema, dict):
        raise SchemaError(f"{source} is not a JSON Schema object")
    if digest == PINNED_SHA256 or rules_sha256(schema) == PINNED_RULES_SHA256:
        return schema
    raise SchemaError(
        f"{source} has sha256 {digest} and validation rules sha256 {rules_sha256(schema)}, "
        f"not the pinned {PINNED_SHA256} / rules {PINNED_RULES_SHA256}: its rules differ from "
        "the reviewed schema; review the new file, then update the pins in "
        "generators/render_schema.py"
    )


@dataclass(frozen=True)
class Source:
    label: str
    read: Callable[[], bytes]


@dataclass(frozen=True)
class Obtained:
    path: Path
    origin: str  # "cache" or the source's label
    passed_over: list[str]  # why earlier sources were not used


def _fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise _Unavailable(f"{url}: not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
            data: bytes = response.read(MAX_SCHEMA_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise _Unavailable(f"{url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise _Unavailable(f"{url} is unreachable ({getattr(exc, 'reason', exc)})") from exc
    if len(data) > MAX_SCHEMA_BYTES:
        raise SchemaError(f"{url} sent more than {MAX_SCHEMA_BYTES} bytes: not the schema")
    return data


def _read_file(path: Path, label: str) -> bytes:
    if not path.is_file():
        raise _Unavailable(f"{label} {path} does not exist")
    return path.read_bytes()


def sources(root: Path, url: str, env: Mapping[str, str]) -> list[Source]:
    """Where the schema may come from, in order: Render, RENDER_SCHEMA_FILE, ../shared."""
    named = env.get(ENV_VAR, "")
    shared = (root / SHARED_FALLBACK).resolve()

    def from_env() -> bytes:
        if not named:
            raise _Unavailable(f"{ENV_VAR} is not set")
        return _read_file(Path(named), ENV_VAR)

    return [
        Source(url, lambda: _fetch(url)),
        Source(f"{ENV_VAR}={named}", from_env),
        Source(str(SHARED_FALLBACK), lambda: _read_file(shared, "fallback")),
    ]


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers (parallel test workers) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_path(root: Path = REPO_ROOT) -> Path:
    return root / CACHE_DIR / SCHEMA_NAME


def ensure(
    root: Path = REPO_ROOT,
    *,
    url: str = SCHEMA_URL,
    env: Mapping[str, str] | None = None,
) -> Obtained:
    """Make the cache hold the pinned schema; says where it came from.

    A cache that already verifies is kept (setup runs offline once it has it). Raises
    SchemaError with a one-line message when no source has the pinned schema.
    """
    target = cache_path(root)
    if target.is_file():
        try:
            verify(target.read_bytes(), str(target))
            return Obtained(target, "cache", [])
        except SchemaError:
            pass  # stale or damaged: fetch again
    problems: list[str] = []
    for source in sources(root, url, os.environ if env is None else env):
        try:
            data = source.read()
            verify(data, source.label)
        except (_Unavailable, SchemaError) as exc:
            problems.append(" ".join(str(exc).split()))  # the failure stays one line
            continue
        _write_atomic(target, data)
        return Obtained(target, source.label, problems)
    raise SchemaError(
        f"no Render Blueprint schema: {'; '.join(problems)}. Without internet, set "
        f"{ENV_VAR}=/path/to/{SCHEMA_NAME} or put the file at {SHARED_FALLBACK} beside the clone"
    )


def load_cached(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The cached schema, verified. The only way the project reads it (validate.py, tests)."""
    path = cache_path(root)
    if not path.is_file():
        raise SchemaError(
            f"Render Blueprint schema not cached at {CACHE_DIR / SCHEMA_NAME}: run `make setup` "
            "(or `python -m tools.render_schema`)"
        )
    return verify(path.read_bytes(), str(CACHE_DIR / SCHEMA_NAME))
