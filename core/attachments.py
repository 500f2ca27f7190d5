"""Attachment files: resolve their paths safely, load them as MIME parts, estimate their size."""

from __future__ import annotations

import mimetypes
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import MIMEPart
from pathlib import Path, PurePath, PurePosixPath

from core.errors import IssueKind, MergeError
from core.headers import SMTP_POLICY

__all__ = [
    "Attachment",
    "OutsideAttachment",
    "attachment_part_size",
    "attachments_outside",
    "file_size",
    "load_attachment",
    "resolve_attachment",
]

_ATTACHMENT_HEADERS_ESTIMATE = 200  # bytes of part headers and boundary around an attachment
_B64_LINE = 76
_UTF8 = "utf-8"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def resolve_attachment(base_dir: Path, value: str, *, from_data: bool) -> Path:
    """The file an attachment path names, relative to base_dir.

    Paths written by the template's author (`from_data=False`) may be absolute or use `~`.
    Paths merged from CSV data (`from_data=True`) must stay inside base_dir: absolute paths,
    `..` and symlinks leading out are refused (MergeError, kind UNSAFE_PATH).
    """
    raw = value.strip()
    if not raw:
        raise MergeError("attachment path is empty", kind=IssueKind.MISSING_ATTACHMENT, path=value)
    if _CONTROL_RE.search(raw):
        raise MergeError(
            "attachment path contains control characters", kind=IssueKind.UNSAFE_PATH, path=raw
        )
    if not from_data:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else base_dir / path
    candidate = PurePath(raw)
    if candidate.is_absolute() or candidate.anchor or raw.startswith(("/", "\\", "~")):
        raise MergeError(
            f"attachment path {raw!r} is absolute; per-recipient paths must be relative to "
            "the campaign folder",
            kind=IssueKind.UNSAFE_PATH,
            path=raw,
        )
    if ".." in PurePosixPath(raw.replace("\\", "/")).parts:
        raise MergeError(
            f"attachment path {raw!r} uses '..'; per-recipient paths must stay inside the "
            "campaign folder",
            kind=IssueKind.UNSAFE_PATH,
            path=raw,
        )
    try:
        base = base_dir.resolve()
        full = (base / candidate).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops, names the OS refuses
        raise MergeError(
            f"attachment path {raw!r} cannot be resolved ({exc})",
            kind=IssueKind.UNSAFE_PATH,
            path=raw,
        ) from exc
    if not full.is_relative_to(base):
        raise MergeError(
            f"attachment path {raw!r} leads outside the campaign folder (symlink)",
            kind=IssueKind.UNSAFE_PATH,
            path=raw,
        )
    hidden = _hidden_part(PurePosixPath(raw.replace("\\", "/"))) or _hidden_part(
        full.relative_to(base)
    )
    if hidden is not None:
        raise MergeError(
            f"attachment path {raw!r} names a hidden file or folder ({hidden!r}); "
            "per-recipient paths may not pick hidden files such as .ssh/id_rsa",
            kind=IssueKind.UNSAFE_PATH,
            path=raw,
        )
    return full


def _hidden_part(path: PurePath) -> str | None:
    """The first part of `path` that is hidden (starts with a dot), or None."""
    return next((part for part in path.parts if part.startswith(".") and part != "."), None)


@dataclass(frozen=True, slots=True)
class OutsideAttachment:
    """A template attachment that is not inside the template's folder: shown in bold."""

    name: str  # as the template writes it
    path: Path  # where it resolves to


def attachments_outside(base_dir: Path, names: Iterable[str]) -> tuple[OutsideAttachment, ...]:
    """The template's attachments that lie outside `base_dir` (absolute, `~`, `..`, symlink).

    They are allowed (the author wrote them), but the plan and the confirmation list
    each one in bold so nobody sends a file from elsewhere on the disk by mistake.
    """
    base = base_dir.resolve()
    out: list[OutsideAttachment] = []
    for name in names:
        raw = name.strip()
        if not raw or _CONTROL_RE.search(raw):
            continue  # the pre-flight reports these
        path = Path(raw).expanduser()
        full = path if path.is_absolute() else base / path
        try:
            resolved = full.resolve()
        except (OSError, RuntimeError):
            resolved = full
        if not resolved.is_relative_to(base):
            out.append(OutsideAttachment(name, resolved))
    return tuple(out)


def file_size(path: Path) -> int:
    """Size of a regular file, or MergeError MISSING_ATTACHMENT."""
    try:
        info = path.stat()
    except OSError as exc:
        raise MergeError(
            f"attachment not found: {path}",
            kind=IssueKind.MISSING_ATTACHMENT,
            path=str(path),
        ) from exc
    if not stat.S_ISREG(info.st_mode):
        raise MergeError(
            f"attachment is not a file: {path}",
            kind=IssueKind.MISSING_ATTACHMENT,
            path=str(path),
        )
    return info.st_size


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file read once, with its MIME type and its encoded part for the fast path."""

    filename: str
    maintype: str
    subtype: str
    params: dict[str, str]
    data: bytes
    part: bytes  # the encoded MIME part, headers included, for the fast path


def load_attachment(path: Path) -> Attachment:
    """Read a file into an attachment part; MergeError MISSING_ATTACHMENT if unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MergeError(
            f"attachment cannot be read: {path} ({exc.strerror or exc})",
            kind=IssueKind.MISSING_ATTACHMENT,
            part="attachment",
            path=str(path),
        ) from exc
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, _, subtype = ctype.partition("/")
    params: dict[str, str] = {}
    if maintype == "text" and _is_utf8(data):
        params["charset"] = _UTF8  # else readers assume US-ASCII and garble the file
    part = MIMEPart(policy=SMTP_POLICY)
    part.set_content(
        data, maintype, subtype, disposition="attachment", filename=path.name, params=params
    )
    return Attachment(path.name, maintype, subtype, params, data, part.as_bytes(policy=SMTP_POLICY))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode(_UTF8)
    except UnicodeDecodeError:
        return False
    return True


def attachment_part_size(filename: str, size: int) -> int:
    """Close estimate of the bytes a file of `size` bytes adds to a message (base64 + headers)."""
    encoded = 4 * ((size + 2) // 3)
    lines = (encoded + _B64_LINE - 1) // _B64_LINE
    return encoded + 2 * lines + _ATTACHMENT_HEADERS_ESTIMATE + 3 * len(filename.encode())
