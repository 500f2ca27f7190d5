"""The account form's CA certificates: one PEM file or folder per line, each checked."""

from __future__ import annotations

import ssl
from pathlib import Path

from core.errors import TLSError
from core.transport.tls import load_ca_path

__all__ = ["ca_paths_from_text", "ca_paths_to_text"]


def ca_paths_from_text(text: str) -> tuple[list[str], str]:
    """(paths, error): the non-empty lines as expanded paths, or the first problem by line."""
    paths: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        path = str(Path(line).expanduser())
        try:
            load_ca_path(ssl.create_default_context(), path)
        except TLSError as exc:
            return [], f"Line {number}: {exc.message}."
        paths.append(path)
    return paths, ""


def ca_paths_to_text(paths: tuple[str, ...]) -> str:
    """The form's text for saved CA paths: one per line."""
    return "\n".join(paths)
