"""`make check`: every quality and security gate, one summary line each, non-zero on a finding.

`python -m tools.gates [GATE ...]` runs some (`make lint` = ruff mypy imports); `--fix`
applies ruff's fixes and formatting (`make fmt`).

Gates: cdk-nag (AwsSolutions + NIST 800-53 rev 5, every stage), cfn-lint (every synthesized
template), checkov (templates, Dockerfiles, compose), hadolint (Dockerfiles), zizmor (the
GitHub workflows' security audit, offline), ruff (lint + format, complexity), mypy --strict,
imports (import-linter's contracts in pyproject.toml), docs (`mkdocs build --strict`).
Exceptions live in infra/nag.py (acknowledgments on constructs) and security/exceptions.yaml
(per check and resource, with reasons).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
EXCEPTIONS_FILE = ROOT / "security" / "exceptions.yaml"
DOCKERFILES = ("service/Dockerfile", "service/Dockerfile.redis")
STAGES = (("dev", None), ("prod", "gate"))
# Prod synthesizes only with a certificate and its domain; the gates check the template, not
# the account, so any ARN in ACM's format will do. The hosted zone adds the alias record, so
# the gates see it too.
GATE_OVERRIDES = {
    "prod": {
        "certificate_arn": (
            "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
        ),
        "domain_name": "api.fyntrix.example",
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
    }
}
PYPROJECT = ROOT / "pyproject.toml"


def python_paths(pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """The one list of Python paths: mypy's `files` in pyproject.toml, which ruff checks too."""
    files: list[str] = tomllib.loads(pyproject.read_text())["tool"]["mypy"]["files"]
    return tuple(files)


PYTHON_PATHS = python_paths()


@dataclass(frozen=True, kw_only=True)
class GateResult:
    name: str
    ok: bool
    summary: str
    findings: list[str]


def load_exceptions(path: Path = EXCEPTIONS_FILE) -> dict[str, dict[str, dict[str, Any]]]:
    data: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(path.read_text())
    for tool, entries in data.items():
        for check, entry in (entries or {}).items():
            reason = str(entry.get("reason", ""))
            if len(reason) < 40 or not entry.get("resources"):
                raise ValueError(
                    f"{path.name}: {tool} {check} needs a reason (>= 40 characters) "
                    "and the resources it covers"
                )
    return data


def tool(path: Path) -> list[str]:
    """How to run a virtualenv's console script: through that venv's python when it is a
    Python script. Its `#!` line names the interpreter by absolute path, which the kernel
    splits at the first space: in a clone whose path has one, running it directly fails."""
    with path.open("rb") as fh:
        is_script = fh.read(2) == b"#!"
    return [str(path.parent / "python"), str(path)] if is_script else [str(path)]


def _run(argv: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, check=False, env=env, timeout=900
    )


# ---------------------------------------------------------------------------- cdk-nag


def synth_all(outdir: Path) -> tuple[list[Path], GateResult]:
    """Synthesize every stage (nag packs run on synth) and report the nag gate."""
    from aws_cdk import Validations

    from infra.app_factory import build_app
    from infra.config import load_stage

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    findings: list[str] = []
    acknowledged = 0
    templates: list[Path] = []
    packs_seen: set[str] = set()
    for stage, tag in STAGES:
        stage_out = outdir / stage
        app, _registry, _service, packs = build_app(
            load_stage(stage, image_tag=tag, overrides=GATE_OVERRIDES.get(stage)),
            context=context,
            outdir=str(stage_out),
        )
        for pack in packs:
            packs_seen.add(pack.read_pack_name)
            report = pack.validate_scope(app)
            for v in report.violations:
                where = ", ".join(r.resource_logical_id or "?" for r in v.violating_resources)
                findings.append(f"{stage}: {v.rule_name} on {where}")
        for node in app.node.find_all():
            for entry in node.node.metadata:
                if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                    acknowledged += sum(
                        1 for rule in entry.data if "AwsSolutions" in rule or "NIST" in rule
                    )
        if not findings:
            app.synth()
            templates += sorted(stage_out.glob("*.template.json"))
    result = GateResult(
        name="cdk-nag",
        ok=not findings,
        summary=(
            f"{len(findings)} findings, {acknowledged} acknowledged "
            f"({' + '.join(sorted(packs_seen))}; stages {', '.join(s for s, _ in STAGES)})"
        ),
        findings=findings,
    )
    return templates, result


# ---------------------------------------------------------------------------- cfn-lint


def gate_cfn_lint(templates: list[Path], exceptions: dict[str, Any]) -> GateResult:
    ignored = sorted(exceptions or {})
    argv = [*tool(VENV_BIN / "cfn-lint"), "--format", "parseable"]
    if ignored:
        argv += ["--ignore-checks", *ignored]
    proc = _run([*argv, "--", *map(str, templates)])
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r":E\d+:", line)]
    warnings = [line for line in lines if re.search(r":W\d+:", line)]
    infos = [line for line in lines if re.search(r":I\d+:", line)]
    ok = proc.returncode == 0 and not lines
    return GateResult(
        name="cfn-lint",
        ok=ok,
        summary=(
            f"{len(errors)} errors, {len(warnings)} warnings, {len(infos)} info, "
            f"{len(ignored)} rules ignored ({len(templates)} templates)"
        ),
        findings=lines or ([proc.stderr.strip()] if proc.returncode else []),
    )


# ---------------------------------------------------------------------------- checkov


def _checkov(args: list[str]) -> list[dict[str, Any]]:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    proc = _run(
        [*tool(CHECKOV), "--quiet", "--compact", "--skip-download", "-o", "json", *args], env=env
    )
    text = proc.stdout.strip()
    if not text:
        raise RuntimeError(
            f"checkov printed nothing (exit {proc.returncode}): {proc.stderr[-500:]}"
        )
    data = json.loads(text)
    reports: list[dict[str, Any]] = data if isinstance(data, list) else [data]
    return reports


# checkov has no Compose framework; its secrets scan is what applies to compose and env files.
SECRETS_SCANNED = (
    "docker-compose.yml",
    "docker-compose.postgres.yml",
    ".env.example",
    "render.yaml",
)


def run_checkov(templates: Iterable[Path]) -> list[dict[str, Any]]:
    """checkov's reports on the templates, the Dockerfiles and, with its secrets scan, every
    file given. One run: each run spends about 2.5 CPU-s loading its checks, and a run given
    files and frameworks applies each framework only to the files it can parse."""
    files = [*map(str, templates), *DOCKERFILES, *SECRETS_SCANNED]
    args = [arg for f in files for arg in ("-f", f)]
    return _checkov([*args, "--framework", "cloudformation", "dockerfile", "secrets"])


def gate_checkov(templates: Iterable[Path], exceptions: dict[str, Any]) -> GateResult:
    if not CHECKOV.exists():
        return GateResult(
            name="checkov",
            ok=False,
            summary="not installed",
            findings=["run `make setup` (checkov lives in .venv-checkov)"],
        )
    return judge_checkov(run_checkov(templates), exceptions)


def checkov_file(failure: dict[str, Any], root: Path = ROOT) -> str:
    """The failing file, relative to the project when it is inside it, else absolute.

    Not checkov's `file_path`: that one is relative to a root checkov computes from its
    working directory, so a file outside the clone reads as `/../../tmp/...`, a path whose
    meaning depends on where the clone lives. `file_abs_path` is the file as given."""
    path = Path(failure.get("file_abs_path") or os.path.join(root, failure["file_path"]))
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def judge_checkov(reports: list[dict[str, Any]], exceptions: dict[str, Any]) -> GateResult:
    """The gate's verdict on checkov's reports: a failure passes only when it is listed for
    exactly that check and resource; a listed exception that matches nothing is stale."""
    allowed = {
        (check, resource)
        for check, entry in (exceptions or {}).items()
        for resource in entry["resources"]
    }
    passed = failed_total = 0
    skipped: set[tuple[str, str]] = set()
    findings: list[str] = []
    for report in reports:
        results = report.get("results", {})
        # --quiet leaves passed checks out of the results; the summary still counts them.
        passed += int(report.get("summary", {}).get("passed", 0))
        for failure in results.get("failed_checks", []):
            failed_total += 1
            key = (failure["check_id"], failure["resource"])
            if key in allowed:
                skipped.add(key)
            else:
                findings.append(
                    f"{failure['check_id']} {failure['resource']} "
                    f"({checkov_file(failure)}): {failure.get('check_name', '')}"
                )
    unused = sorted(allowed - skipped)
    if unused:
        findings += [f"stale exception (nothing fails it any more): {c} {r}" for c, r in unused]
    return GateResult(
        name="checkov",
        ok=not findings,
        summary=(
            f"{len(findings)} failed, {len(skipped)} skipped with reasons, {passed} passed "
            "(templates of every stage, Dockerfiles, secrets scan of those and compose/env/render)"
        ),
        findings=findings,
    )


# ---------------------------------------------------------------------------- hadolint


def gate_hadolint(exceptions: dict[str, Any]) -> GateResult:
    ignored = sorted(exceptions or {})
    argv = [*tool(VENV_BIN / "hadolint"), "--format", "json", "--failure-threshold", "style"]
    for rule in ignored:
        argv += ["--ignore", rule]
    proc = _run([*argv, *DOCKERFILES])
    items = json.loads(proc.stdout or "[]")
    findings = [f"{i['file']}:{i['line']} {i['code']} {i['message']}" for i in items]
    return GateResult(
        name="hadolint",
        ok=proc.returncode == 0 and not findings,
        summary=(
            f"{len(findings)} findings, {len(ignored)} rules ignored ({len(DOCKERFILES)} files)"
        ),
        findings=findings or ([proc.stderr.strip()] if proc.returncode else []),
    )


# ---------------------------------------------------------------------------- zizmor

WORKFLOWS_DIR = ROOT / ".github" / "workflows"


def gate_zizmor(workflows: Path = WORKFLOWS_DIR) -> GateResult:
    """zizmor's audit of the workflows, offline (no GitHub API: the pins are checked for
    form, not looked up). Any finding it reports at its regular persona fails the gate, from
    an action not pinned to a commit (high) to a `${{ }}` expanded inside a script (info):
    zizmor's own inline `# zizmor: ignore[...]` comments are the only way to accept one."""
    proc = _run([*tool(VENV_BIN / "zizmor"), "--offline", "--format", "json", str(workflows)])
    try:
        found: list[dict[str, Any]] = json.loads(proc.stdout or "null")
    except json.JSONDecodeError:
        found = []
    if not isinstance(found, list):
        return GateResult(
            name="zizmor",
            ok=False,
            summary=f"did not run (exit {proc.returncode})",
            findings=[proc.stderr.strip()[-500:]],
        )
    findings = [zizmor_finding(f) for f in found if not f.get("ignored")]
    by_severity: dict[str, int] = {}
    for f in found:
        if not f.get("ignored"):
            level = f["determinations"]["severity"].lower()
            by_severity[level] = by_severity.get(level, 0) + 1
    counts = ", ".join(
        f"{by_severity.get(level, 0)} {level}"
        for level in ("high", "medium", "low", "informational")
    )
    workflows_n = len(list(workflows.glob("*.y*ml")))
    return GateResult(
        name="zizmor",
        ok=not findings,
        summary=f"{counts} ({workflows_n} workflows, offline)",
        findings=findings,
    )


def zizmor_finding(finding: dict[str, Any]) -> str:
    """`<file>:<line> <audit> (<severity>): <what>` for one finding's primary location."""
    where = next(
        (loc for loc in finding["locations"] if loc["symbolic"]["kind"] == "Primary"),
        finding["locations"][0],
    )
    path = where["symbolic"]["key"]["Local"]["verbatim_path"]
    line = where["concrete"]["location"]["start_point"]["row"] + 1
    severity = finding["determinations"]["severity"].lower()
    return f"{path}:{line} {finding['ident']} ({severity}): {finding['desc']}"


# ---------------------------------------------------------------------------- python


def gate_ruff() -> GateResult:
    lint = _run([*tool(VENV_BIN / "ruff"), "check", "--output-format", "concise", *PYTHON_PATHS])
    fmt = _run([*tool(VENV_BIN / "ruff"), "format", "--check", *PYTHON_PATHS])
    lint_lines = [line for line in lint.stdout.splitlines() if re.match(r"^\S+:\d+:\d+: ", line)]
    fmt_lines = [
        line.strip()
        for line in fmt.stdout.splitlines()
        if line.startswith("Would reformat") or line.strip().startswith("-->")
    ]
    return GateResult(
        name="ruff",
        ok=lint.returncode == 0 and fmt.returncode == 0,
        summary=f"{len(lint_lines)} lint findings, {len(fmt_lines)} files to reformat",
        findings=lint_lines + fmt_lines,
    )


def gate_mypy() -> GateResult:
    # No paths: mypy checks the `files` list in pyproject.toml, the one list of typed code.
    proc = _run(tool(VENV_BIN / "mypy"))
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    checked = re.search(r"(\d+) source files", proc.stdout)
    return GateResult(
        name="mypy",
        ok=proc.returncode == 0,
        summary=f"{len(errors)} errors (--strict, {checked.group(1) if checked else '?'} files)",
        findings=errors or ([proc.stdout.strip()[-500:]] if proc.returncode else []),
    )


# ---------------------------------------------------------------------------- docs


def gate_docs(config_file: Path = ROOT / "mkdocs.yml") -> GateResult:
    """Strict site build into a throwaway folder: a broken link, a broken anchor or a page
    missing from the nav is a warning, and --strict turns every warning into a failure."""
    with tempfile.TemporaryDirectory(prefix="fyntrix-docs.") as site:
        proc = _run(
            [
                # `-m`: the venv's `mkdocs` script may carry another checkout's shebang.
                str(VENV_BIN / "python"),
                "-m",
                "mkdocs",
                "build",
                "--strict",
                "--config-file",
                str(config_file),
                "--site-dir",
                site,
            ],
            cwd=config_file.parent,
            # mkdocs-material's end-of-life banner is advice about the future, not a finding.
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )
        pages = len(list(Path(site).rglob("index.html")))
    findings: list[str] = []
    for line in proc.stderr.splitlines():
        if line.startswith(("WARNING", "ERROR")) or "Aborted" in line:
            findings.append(line.strip())
        elif line.startswith("  - ") and findings:
            findings[-1] += f" {line.strip()}"  # e.g. the pages a nav warning lists below it
    return GateResult(
        name="docs",
        ok=proc.returncode == 0,
        summary=f"{len(findings)} warnings ({pages} pages, mkdocs build --strict)",
        findings=findings or ([proc.stderr.strip()[-500:]] if proc.returncode else []),
    )


def gate_imports(root: Path = ROOT) -> GateResult:
    """import-linter's contracts ([tool.importlinter] in pyproject.toml): the layers, and
    what the deploy code may load of the service. No cache: the graph builds in about a
    second, and nothing is written into the clone."""
    proc = _run([*tool(VENV_BIN / "lint-imports"), "--no-cache"], cwd=root)
    kept = re.search(r"Contracts: (\d+) kept, (\d+) broken", proc.stdout)
    broken = re.findall(r"^(.+) BROKEN$", proc.stdout, flags=re.MULTILINE)
    # "<layer> is not allowed to import <layer>:", then each chain ("- a -> b (l.3)"; an
    # indirect one continues on indented lines).
    _, _, details = proc.stdout.partition("Broken contracts")
    illegal = [
        line.strip()
        for line in details.splitlines()
        if "is not allowed to import" in line or " -> " in line
    ]
    return GateResult(
        name="imports",
        ok=proc.returncode == 0,
        summary=(
            f"{kept.group(2)} contracts broken, {kept.group(1)} kept" if kept else "did not run"
        ),
        findings=[*broken, *illegal]
        or ([(proc.stdout + proc.stderr).strip()[-500:]] if proc.returncode else []),
    )


def fix() -> int:
    """`make fmt`: ruff's safe fixes and formatting over the same paths the gates check."""
    ruff = tool(VENV_BIN / "ruff")
    lint = subprocess.run([*ruff, "check", "--fix", *PYTHON_PATHS], cwd=ROOT, check=False)
    fmt = subprocess.run([*ruff, "format", *PYTHON_PATHS], cwd=ROOT, check=False)
    return lint.returncode or fmt.returncode


SYNTH_GATES = ("cdk-nag", "cfn-lint", "checkov")
# The gates that need no synth, in the order they run.
PLAIN_GATES: dict[str, Callable[[dict[str, Any]], GateResult]] = {
    "hadolint": lambda exceptions: gate_hadolint(exceptions.get("hadolint") or {}),
    "zizmor": lambda _exceptions: gate_zizmor(),
    "ruff": lambda _exceptions: gate_ruff(),
    "mypy": lambda _exceptions: gate_mypy(),
    "imports": lambda _exceptions: gate_imports(),
    "docs": lambda _exceptions: gate_docs(),
}
GATES = (*SYNTH_GATES, *PLAIN_GATES)


def run_synth_gates(wanted: set[str], exceptions: dict[str, Any]) -> list[GateResult]:
    """cdk-nag, cfn-lint and checkov over one synth of every stage."""
    if not wanted & set(SYNTH_GATES):
        return []
    results: list[GateResult] = []
    with tempfile.TemporaryDirectory(prefix="fyntrix-gates.") as tmp:
        templates, nag = synth_all(Path(tmp))
        if "cdk-nag" in wanted:
            results.append(nag)
        if "cfn-lint" in wanted:
            results.append(gate_cfn_lint(templates, exceptions.get("cfn-lint") or {}))
        if "checkov" in wanted:
            results.append(gate_checkov(templates, exceptions.get("checkov") or {}))
    return results


def report(results: list[GateResult]) -> int:
    """Each gate's findings, then one summary line per gate; 1 when any failed."""
    for r in results:
        for finding in r.findings[:50]:
            print(f"  {r.name}: {finding}")
    print("\ngate      result  counts")
    for r in results:
        print(f"{r.name:<9} {'PASS' if r.ok else 'FAIL':<6}  {r.summary}")
    failed = [r.name for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv == ["--fix"]:
        return fix()
    unknown = sorted(set(argv) - set(GATES))
    if unknown:
        print(f"unknown gate {', '.join(unknown)}: choose from {' '.join(GATES)}", file=sys.stderr)
        return 2
    wanted = set(argv) or set(GATES)
    exceptions = load_exceptions()
    results = run_synth_gates(wanted, exceptions)
    results += [gate(exceptions) for name, gate in PLAIN_GATES.items() if name in wanted]
    return report(results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
