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


def _aiosmtplib_users(root: Path) -> tuple[list[str], list[str]]:
    """Modules of `core` that import aiosmtplib: (inside core/transport/, anywhere else)."""
    transport = root / "core" / "transport"
    inside: list[str] = []
    outside: list[str] = []
    for path in sorted((root / "core").rglob("*.py")):
        if "aiosmtplib" in _imports(path):
            (inside if transport in path.parents else outside).append(
                path.relative_to(root).as_posix()
            )
    return inside, outside


def test_only_transport_imports_aiosmtplib() -> None:
    inside, outside = _aiosmtplib_users(ROOT)
    assert outside == []
    assert "core/transport/errors.py" in inside  # the translation table sees every exception


def test_the_aiosmtplib_rule_catches_a_module_outside_the_transport(tmp_path: Path) -> None:
    for name in ("core/transport/client.py", "core/engine.py", "core/transport_extra.py"):
        module = tmp_path / name
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text("import aiosmtplib\n")
    assert _aiosmtplib_users(tmp_path) == (
        ["core/transport/client.py"],
        ["core/engine.py", "core/transport_extra.py"],
    )
