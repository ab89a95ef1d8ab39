"""A small, strict evaluator of GitHub Actions `${{ }}` expressions.

It knows what the shipped workflows use: literals, `a.b` / `a['b']` property access, `!`,
`==` `!=` `<` `<=` `>` `>=`, `&&` / `||` (short-circuit, returning an operand as GitHub does),
parentheses, the status functions, `format`, `contains`, `startsWith`, `endsWith`, `join`,
`toJSON`, `fromJSON` and `hashFiles`. Anything else fails with ExpressionError naming it:
an unknown context, function or operator, and a property the context does not hold (where
GitHub would quietly give an empty string, a test should learn that the workflow reads a
variable nobody set).
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\],.])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
STATUS_FUNCTIONS = ("success", "always", "failure", "cancelled")


class ExpressionError(ValueError):
    """An expression the evaluator does not know, or a value it cannot find."""


class Sparse(dict[str, Any]):
    """A mapping whose missing keys read as null: a step's outputs, where an output the step
    did not set (or a step that was skipped) gives '' on GitHub too."""


@dataclass
class Context:
    """What an expression can read: contexts by name, the job's status, the workspace."""

    contexts: Mapping[str, Any]
    workspace: Path
    job_failed: bool = False
    # Contexts whose missing properties read as null (GitHub's event payloads are sparse).
    lenient: frozenset[str] = field(default_factory=frozenset)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(f"cannot read {text[pos:]!r} in {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes (with short-circuit)."""

    def __init__(self, text: str, ctx: Context) -> None:
        self.text, self.ctx = text, ctx
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise ExpressionError(f"unexpected end of {self.text!r}")
        token = self.tokens[self.i]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, found {token[1]!r} in {self.text!r}")
        self.i += 1
        return token

    def parse(self) -> Any:
        value = self.or_(True)
        if self.i != len(self.tokens):
            raise ExpressionError(f"unexpected {self.peek()!r} in {self.text!r}")
        return value

    def or_(self, live: bool) -> Any:
        value = self.and_(live)
        while self.peek() == "||":
            self.take()
            right = self.and_(live and not truthy(value))
            value = value if truthy(value) else right
        return value

    def and_(self, live: bool) -> Any:
        value = self.compare(live)
        while self.peek() == "&&":
            self.take()
            right = self.compare(live and truthy(value))
            value = right if truthy(value) else value
        return value

    def compare(self, live: bool) -> Any:
        value = self.unary(live)
        while self.peek() in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.unary(live)  # parsed even when dead, to move past its tokens
            value = _compare(op, value, right) if live else None
        return value

    def unary(self, live: bool) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary(live))
        return self.postfix(live)

    def postfix(self, live: bool) -> Any:
        value = self.primary(live)
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                key = self.take()
                if key[0] != "name":
                    raise ExpressionError(f"expected a property name in {self.text!r}")
                value = self.member(value, key[1], live)
            else:
                key_value = self.or_(live)
                self.take("]")
                value = self.member(value, key_value, live)
        return value

    def member(self, value: Any, key: Any, live: bool) -> Any:
        if not live:
            return None
        if isinstance(value, _Root):
            return value.get(_plain(key))
        raise ExpressionError(f"no property {key!r} of {to_string(value)!r} in {self.text!r}")

    def primary(self, live: bool) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            value = self.or_(live)
            self.take(")")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            return self.call(text, live)
        if text not in self.ctx.contexts:
            raise ExpressionError(f"unknown context {text!r} in {self.text!r}")
        return _Root(text, self.ctx.contexts[text], text in self.ctx.lenient)

    def call(self, name: str, live: bool) -> Any:
        self.take("(")
        args: list[Any] = []
        while self.peek() != ")":
            args.append(_plain(self.or_(live)))
            if self.peek() == ",":
                self.take()
        self.take(")")
        if name not in FUNCTIONS and name not in (*STATUS_FUNCTIONS, "hashFiles"):
            raise ExpressionError(f"unknown function {name}() in {self.text!r}")
        if not live:
            return None
        if name in STATUS_FUNCTIONS:
            return _status(name, self.ctx)
        if name == "hashFiles":
            return hash_files(self.ctx.workspace, [str(a) for a in args])
        return FUNCTIONS[name](*args)


@dataclass(frozen=True)
class _Root:
    """A context, before a property is read from it (strict unless lenient)."""

    name: str
    value: Any
    lenient: bool

    def get(self, key: Any) -> Any:
        found: Any
        if (isinstance(self.value, Mapping) and key in self.value) or (
            isinstance(self.value, list) and isinstance(key, int) and 0 <= key < len(self.value)
        ):
            found = self.value[key]
        elif self.lenient or isinstance(self.value, Sparse):
            return None
        else:
            raise ExpressionError(f"{self.name}.{key} is not set in the run's {self.name}")
        # Objects stay wrapped, so a property read from them is as strict as from the root.
        if isinstance(found, Mapping | list):
            return _Root(f"{self.name}.{key}", found, self.lenient)
        return found


def _plain(value: Any) -> Any:
    if isinstance(value, _Root):
        return value.value
    return value


def truthy(value: Any) -> bool:
    value = _plain(value)
    return value not in (None, False, 0, "") and not (isinstance(value, float) and value != value)


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _plain(left), _plain(right)
    if isinstance(left, str) and isinstance(right, str):
        # GitHub compares strings case-insensitively.
        left, right = left.casefold(), right.casefold()
    elif type(left) is not type(right) and not (
        isinstance(left, int | float) and isinstance(right, int | float)
    ):
        raise ExpressionError(f"comparing {left!r} with {right!r}: types differ")
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    return bool(
        {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    )


def _status(name: str, ctx: Context) -> bool:
    return {
        "success": not ctx.job_failed,
        "failure": ctx.job_failed,
        "always": True,
        "cancelled": False,
    }[name]


def to_string(value: Any) -> str:
    """How GitHub writes a value into a string: true/false, '' for null, JSON for objects."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping | list):
        return json.dumps(value, indent=2)
    return str(value)


def _format(template: str, *args: Any) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        return to_string(args[int(match.group(1))])

    return re.sub(r"\{\{|\}\}|\{(\d+)\}", one, template)


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(to_string(h).casefold() == to_string(needle).casefold() for h in haystack)
    return to_string(needle).casefold() in to_string(haystack).casefold()


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "format": _format,
    "contains": _contains,
    "startsWith": lambda s, p: to_string(s).casefold().startswith(to_string(p).casefold()),
    "endsWith": lambda s, p: to_string(s).casefold().endswith(to_string(p).casefold()),
    "join": lambda items, sep=",": to_string(sep).join(to_string(i) for i in items),
    "toJSON": lambda v: json.dumps(v, indent=2),
    "fromJSON": lambda v: json.loads(to_string(v)),
}


def hash_files(workspace: Path, patterns: list[str]) -> str:
    """GitHub's hashFiles: the SHA-256 of the matched files' SHA-256s, '' when none match."""
    matched = sorted(
        {
            workspace / name
            for pattern in patterns
            for name in glob.glob(pattern, root_dir=workspace, recursive=True)
            if (workspace / name).is_file()
        }
    )
    if not matched:
        return ""
    outer = hashlib.sha256()
    for path in matched:
        outer.update(hashlib.sha256(path.read_bytes()).digest())
    return outer.hexdigest()


def evaluate(expression: str, ctx: Context) -> Any:
    """The value of one expression (the text inside `${{ }}`, or an `if:`)."""
    return _plain(_Parser(expression, ctx).parse())


def evaluate_if(condition: str | bool | None, ctx: Context) -> bool:
    """A job's or step's `if:`: `success()` when absent, and `success() && (...)` when the
    condition calls no status function (GitHub's implicit rule)."""
    if condition is None:
        return not ctx.job_failed
    if isinstance(condition, bool):
        return condition and not ctx.job_failed
    text = condition.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if not any(re.search(rf"\b{f}\s*\(", text) for f in STATUS_FUNCTIONS):
        text = f"success() && ({text})"
    return truthy(evaluate(text, ctx))


def substitute(text: str, ctx: Context) -> str:
    """Every `${{ expr }}` in `text` replaced by its value, as GitHub does before a step runs."""

    def one(match: re.Match[str]) -> str:
        return to_string(evaluate(match.group(1), ctx))

    return re.sub(r"\$\{\{(.*?)\}\}", one, text, flags=re.DOTALL)
