"""The dependency rule: core knows no UI and no storage; storage knows no UI; the web face
and the CLI never import each other, and the services between them know neither."""

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


# The faces and the application layer between them (full module prefixes).
FACE_RULES = {
    "ui/services": ("nicegui", "argparse", "ui.web", "ui.cli"),
    "ui/web": ("ui.cli",),
    "ui/cli": ("ui.web", "nicegui"),
}


def _modules(path: Path) -> set[str]:
    """Every module `path` imports, with its full dotted name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _face_offenders(root: Path, folder: str) -> dict[str, list[str]]:
    banned = FACE_RULES[folder]
    offenders: dict[str, list[str]] = {}
    for path in sorted((root / folder).rglob("*.py")):
        bad = sorted(
            name
            for name in _modules(path)
            if any(name == b or name.startswith(f"{b}.") for b in banned)
        )
        if bad:
            offenders[path.relative_to(root).as_posix()] = bad
    return offenders


@pytest.mark.parametrize("folder", sorted(FACE_RULES))
def test_faces_and_services_keep_their_layers(folder: str) -> None:
    assert sorted((ROOT / folder).rglob("*.py")), f"no modules found in {folder}/"
    assert _face_offenders(ROOT, folder) == {}


def test_the_layer_rule_catches_a_face_importing_the_other(tmp_path: Path) -> None:
    (tmp_path / "ui" / "cli").mkdir(parents=True)
    (tmp_path / "ui" / "cli" / "x.py").write_text("from ui.web import send\nimport ui.cli.common\n")
    (tmp_path / "ui" / "services").mkdir(parents=True)
    (tmp_path / "ui" / "services" / "y.py").write_text("from nicegui import ui\n")
    assert _face_offenders(tmp_path, "ui/cli") == {"ui/cli/x.py": ["ui.web", "ui.web.send"]}
    assert _face_offenders(tmp_path, "ui/services") == {
        "ui/services/y.py": ["nicegui", "nicegui.ui"]
    }


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
