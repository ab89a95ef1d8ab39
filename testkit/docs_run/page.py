"""The deploy guide's runnable commands, as the docs tier runs them
(tests/docs/test_deploy_page_runs.py).

docs/deploy.md marks each fenced block of its "Deploy to AWS" section with the stages it runs
for, in the fence's attributes (kept in the page's source, invisible on the site):

    ```{.bash data-run="dev prod"}      bash: runs in the stage's session, in page order
    ```{.toml data-run="prod"}          toml: the page says to write it above the stage file's
                                        [placeholders] table; the session does exactly that
    ```{.bash data-run="none"}          a command the emulator cannot answer (the page says why)
    ```{.text data-output="dev"}        example output: every line is one the dev session printed,
                                        up to the ids each run generates (`unmatched_lines`)

An unmarked ```bash block in that section is an error: every command a user is told to run is
either run or left out on purpose. A stage's script is its blocks in page order with only the
test's placeholders replaced (each must still be in the page).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SECTION = "## Deploy to AWS"
STAGES = ("dev", "prod")
NOT_RUN = "none"
# A fence inside a list item is indented like the item's text; its closing fence likewise.
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_ATTRS = re.compile(r"^\{\.(?P<lang>[\w-]+)(?P<rest>[^}]*)\}$")
_RUN = re.compile(r'\bdata-run="(?P<stages>[^"]*)"')
_OUTPUT = re.compile(r'\bdata-output="(?P<stages>[^"]*)"')
# What differs from run to run in a tool's output: account and resource ids, generated name
# suffixes, digests, times: a word with a digit, a long run of capitals or lowercase and digits,
# eight hex digits (a stack id's start).
_GENERATED = re.compile(r"[A-Za-z0-9]*\d[A-Za-z0-9]*|[A-Z0-9]{8,}|[a-z0-9]{12,}|\b[a-f0-9]{8}\b")
# The stage file's table that every deploy refuses; the page's values go above it.
PLACEHOLDERS_TABLE = "[placeholders]"


class PageError(AssertionError):
    """The page breaks a rule of the tier: one line naming the line and the fix."""


@dataclass(frozen=True, kw_only=True)
class Block:
    line: int  # the page line of the opening fence (1-based)
    lang: str
    stages: tuple[str, ...]  # () when not run
    body: str  # dedented, ends with a newline
    output_of: tuple[str, ...] = ()  # the stages whose session printed this example output


@dataclass(frozen=True, kw_only=True)
class Placeholder:
    """Text of the page that a reader replaces with their own value; the tier replaces it
    with a value that works against the emulator (per stage where it differs)."""

    text: str
    values: Mapping[str, str]  # stage -> replacement


def section(page: str) -> tuple[int, str]:
    """(0-based offset, text) of the Deploy to AWS section: up to the next `## ` heading."""
    start = page.find(f"\n{SECTION}\n")
    if start < 0:
        raise PageError(f"the page has no `{SECTION}` section")
    start += 1
    end = page.find("\n## ", start + len(SECTION))
    return start, page[start : end + 1 if end >= 0 else len(page)]


def blocks(page: str) -> list[Block]:
    """The fenced blocks of the section, marked or not, in page order."""
    offset, text = section(page)
    found = []
    for match in _FENCE.finditer(text):
        line = page.count("\n", 0, offset + match.start()) + 1
        info = match.group("info").strip()
        body = textwrap.dedent(match.group("body"))
        attrs = _ATTRS.match(info)
        if attrs is None:
            if info in ("bash", "sh"):
                raise PageError(
                    f"docs/deploy.md:{line}: a ```{info} block without data-run: write "
                    '```{.bash data-run="dev prod"} (or "dev", "prod", "none")'
                )
            found.append(Block(line=line, lang=info, stages=(), body=body))
            continue
        run = _RUN.search(attrs.group("rest"))
        output = _OUTPUT.search(attrs.group("rest"))
        if run is None and output is not None:
            output_of = _stages(output, line)
            found.append(Block(line=line, lang=attrs.group("lang"), stages=(), body=body,
                               output_of=output_of))  # fmt: skip
            continue
        if run is None:
            raise PageError(
                f"docs/deploy.md:{line}: a fence with attributes but no data-run or data-output"
            )
        found.append(
            Block(line=line, lang=attrs.group("lang"), stages=_stages(run, line), body=body)
        )
    return found


def _stages(run: re.Match[str], line: int) -> tuple[str, ...]:
    words = tuple(run.group("stages").split())
    if words == (NOT_RUN,) and run.re is _RUN:
        return ()
    unknown = [w for w in words if w not in STAGES]
    if unknown or not words:
        raise PageError(f"docs/deploy.md:{line}: {run.group(0)}: use stages {STAGES}")
    return words


def examples(page: str, stage: str) -> list[Block]:
    """The example outputs of the section that the stage's session printed."""
    return [b for b in blocks(page) if stage in b.output_of]


def unmatched_lines(example: str, printed: str) -> list[str]:
    """The example's lines that no printed line matches, the ids each run generates aside:
    an example line passes only if the tools print it, a hand-made value (`AbCdEf`) fails."""
    printed_lines = {ln.strip() for ln in printed.splitlines() if ln.strip()}
    missing = []
    for line in (ln.strip() for ln in example.splitlines()):
        pattern = re.compile(_line_pattern(line))
        if line and not any(pattern.fullmatch(p) for p in printed_lines):
            missing.append(line)
    return missing


def _line_pattern(line: str) -> str:
    parts, end = [], 0
    for token in _GENERATED.finditer(line):
        parts += [re.escape(line[end : token.start()]), "[A-Za-z0-9]+"]
        end = token.end()
    return "".join(parts) + re.escape(line[end:])


def missing_placeholders(page: str, placeholders: Sequence[Placeholder]) -> list[str]:
    """The placeholders the page no longer has: the tier would fill in nothing."""
    _, text = section(page)
    return [p.text for p in placeholders if p.text not in text]


@dataclass(frozen=True, kw_only=True)
class Script:
    text: str
    # Script line (1-based) -> page line, for naming the page's command that failed.
    page_lines: Mapping[int, int]

    def page_line(self, script_line: int) -> int | None:
        return self.page_lines.get(script_line)


def script(
    page: str,
    stage: str,
    placeholders: Sequence[Placeholder],
    *,
    prelude: str = "",
    before: Mapping[str, str] | None = None,
) -> Script:
    """The stage's blocks as one bash script. `before` maps a command of the page to a
    command of the test that runs just before the block holding it (to look at the emulator
    at that point of the guide)."""
    lines: list[str] = prelude.splitlines()
    page_lines: dict[int, int] = {}
    pending = dict(before or {})
    for block in blocks(page):
        if stage not in block.stages:
            continue
        body = block.body
        for placeholder in placeholders:
            body = body.replace(placeholder.text, placeholder.values.get(stage, placeholder.text))
        for anchor in [a for a in pending if a in block.body]:
            lines.append(pending.pop(anchor))
        lines.append(f"__docs_block {block.line}")
        first = len(lines) + 1
        lines += _as_shell(block, body).splitlines()
        page_lines.update({first + i: block.line + 1 + i for i in range(body.count("\n"))})
    if pending:
        raise PageError(f"no {stage} block runs {sorted(pending)}: the tier looks for them")
    return Script(text="\n".join(lines) + "\n", page_lines=page_lines)


def _as_shell(block: Block, body: str) -> str:
    if block.lang in ("bash", "sh"):
        return body
    if block.lang == "toml":
        # An unquoted here-document: the values the page took from the session ($CERT) expand.
        return (
            f'__docs_above_placeholders "stages/$STAGE.toml" <<__DOCS_TOML__\n{body}__DOCS_TOML__\n'
        )
    raise PageError(f"docs/deploy.md:{block.line}: the tier cannot run a ```{block.lang} block")


_READ = re.compile(r"(?:^|[;&|]\s*|\s)read\s+(?:-\w+\s+)*(?P<name>[A-Za-z_]\w*)")


def reads(text: str) -> list[str]:
    """The variables the script reads from its input (`read -rs NAME`), in order."""
    return [m.group("name") for m in _READ.finditer(text)]
