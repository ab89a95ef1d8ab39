"""The layer contracts (import-linter, [tool.importlinter] in pyproject.toml) hold, and break."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from tools.gates import ROOT, gate_imports

PACKAGES = ("service", "infra", "generators", "tools", "testkit", "bench", "tests")


def test_the_project_keeps_every_contract() -> None:
    result = gate_imports()
    assert result.ok, result.findings
    assert result.summary.startswith("0 contracts broken, ")


def _project(root: Path, modules: dict[str, str]) -> Path:
    """A tree with the project's contracts and one module per entry: its path and source."""
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for package in PACKAGES:
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
    # The modules a contract names inside a container must exist: empty ones will do.
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for contract in contracts["contracts"]:
        for container in contract.get("containers", []):
            folder = root.joinpath(*container.split("."))
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "__init__.py").write_text("")
            for layer in contract["layers"]:
                for name in re.split(r"[|:]", layer):
                    (folder / f"{name.strip()}.py").write_text("")
    for name, source in modules.items():
        (root / name).write_text(source)
    return root


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    # The back-edge the project had: the generators reading a tool's module.
    root = _project(tmp_path, {"generators/validate.py": "import tools.render_schema\n"})
    (root / "tools" / "render_schema.py").write_text("")
    result = gate_imports(root)
    assert not result.ok
    assert "- generators.validate -> tools.render_schema (l.1)" in result.findings
    assert result.summary.startswith("1 contracts broken, ")


def test_infra_may_not_load_the_service_runtime_even_indirectly(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "service/secrets_json.py": "import pydantic_settings\n",
            "infra/app_secrets.py": "from service.secrets_json import x\n",
        },
    )
    result = gate_imports(root)
    assert not result.ok
    assert any("infra is not allowed to import pydantic_settings" in f for f in result.findings)
