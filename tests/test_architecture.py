"""The dependency rule: core knows no UI and no storage; storage knows no UI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "core": {"ui", "storage", "nicegui", "tinydb", "cryptography", "keyring", "main"},
    "storage": {"ui", "nicegui", "main"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_dependency_rule(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found in {package}/"
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package]) for path in files
    }
    offenders = {path: bad for path, bad in offenders.items() if bad}
    assert offenders == {}


def test_the_rule_test_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import nicegui\nfrom storage.vault import Vault\nfrom . import x\n")
    assert _imports(bad) == {"nicegui", "storage"}


def test_only_transport_imports_aiosmtplib() -> None:
    users = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "core").rglob("*.py"))
        if "aiosmtplib" in _imports(path)
    ]
    assert users == ["core/transport.py"]
