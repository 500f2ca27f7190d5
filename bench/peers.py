"""The peers the benchmark compares with, installed into bench/.scratch (never the project venv).

- mailmerge (PyPI) into `bench/.scratch/venv`, a venv of its own;
- Nodemailer and smtp-server (npm) into `bench/.scratch/node`, when Node.js and npm are present.

Versions are pinned so that a rerun measures the same code; a peer that cannot be installed
is reported and its rows skipped, never silently dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MAILMERGE_VERSION",
    "NODEMAILER_VERSION",
    "SCRATCH",
    "SMTP_SERVER_VERSION",
    "Peers",
    "ensure_peers",
]

SCRATCH = Path(__file__).resolve().parent / ".scratch"
MAILMERGE_VERSION = "2.3.0"
NODEMAILER_VERSION = "10.6.1"
SMTP_SERVER_VERSION = "3.21.6"
_INSTALL_TIMEOUT = 600.0


@dataclass
class Peers:
    """Where the installed peers are, and why any is missing."""

    mailmerge: Path | None = None  # the mailmerge executable
    node: Path | None = None  # the node executable
    node_modules: Path | None = None
    versions: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # peer -> reason

    @property
    def has_node(self) -> bool:
        return self.node is not None and self.node_modules is not None

    def node_env(self) -> dict[str, str]:
        """The environment for a node process that requires the scratch packages."""
        env = dict(os.environ)
        if self.node_modules is not None:
            env["NODE_PATH"] = str(self.node_modules)
        return env


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False
    )


def _venv_bin(root: Path, name: str) -> Path:
    folder = "Scripts" if sys.platform == "win32" else "bin"
    suffix = ".exe" if sys.platform == "win32" else ""
    return root / folder / f"{name}{suffix}"


def _ensure_mailmerge(peers: Peers, *, install: bool) -> None:
    root = SCRATCH / "venv"
    executable = _venv_bin(root, "mailmerge")
    python = _venv_bin(root, "python")
    if not executable.exists() and install:
        print(f"bench: installing mailmerge {MAILMERGE_VERSION} into {root} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        done = _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"mailmerge=={MAILMERGE_VERSION}",
            ]
        )
        if done.returncode != 0:
            peers.skipped["mailmerge"] = f"pip install failed: {done.stderr.strip()[-300:]}"
            return
    if not executable.exists():
        peers.skipped["mailmerge"] = f"not installed in {root} (run without --no-install)"
        return
    peers.mailmerge = executable
    shown = _run([str(python), "-m", "pip", "show", "mailmerge"]).stdout.splitlines()
    versions = [line.split(":", 1)[1].strip() for line in shown if line.startswith("Version:")]
    peers.versions["mailmerge"] = versions[0] if versions else "?"


def _installed_version(modules: Path, package: str) -> str | None:
    try:
        data = json.loads((modules / package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version")
    return version if isinstance(version, str) else None


def _ensure_node(peers: Peers, *, install: bool) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None:
        for peer in ("nodemailer", "smtp-server"):
            peers.skipped[peer] = "Node.js is not installed (https://nodejs.org)"
        return
    root = SCRATCH / "node"
    modules = root / "node_modules"
    wanted = {"nodemailer": NODEMAILER_VERSION, "smtp-server": SMTP_SERVER_VERSION}
    missing = [p for p, v in wanted.items() if _installed_version(modules, p) != v]
    if missing and install and npm is not None:
        print(f"bench: installing {', '.join(missing)} into {root} ...", file=sys.stderr)
        root.mkdir(parents=True, exist_ok=True)
        package = root / "package.json"
        if not package.exists():
            package.write_text('{"name": "bench-peers", "private": true}\n', encoding="utf-8")
        done = _run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
            + [f"{p}@{wanted[p]}" for p in missing],
            cwd=root,
        )
        if done.returncode != 0:
            for peer in missing:
                peers.skipped[peer] = f"npm install failed: {done.stderr.strip()[-300:]}"
            return
    for peer in wanted:
        found = _installed_version(modules, peer)
        if found is None:
            reason = "npm is not installed" if npm is None else "not installed (--no-install)"
            peers.skipped[peer] = reason
        else:
            peers.versions[peer] = found
    if all(peer in peers.versions for peer in wanted):
        peers.node, peers.node_modules = Path(node), modules
        peers.versions["node"] = _run([node, "--version"]).stdout.strip()


def ensure_peers(*, mailmerge: bool, node: bool, install: bool = True) -> Peers:
    """Install (unless `install` is False) and locate the peers that are asked for."""
    peers = Peers()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    if mailmerge:
        _ensure_mailmerge(peers, install=install)
    if node:
        _ensure_node(peers, install=install)
    return peers
