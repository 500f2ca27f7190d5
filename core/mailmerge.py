"""Read mailmerge's template files (a header block, a blank line, the body) into a Template."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.models import BodyFormat, Template

__all__ = ["MailmergeTemplate", "load_mailmerge", "parse_mailmerge"]

_HEADER_RE = re.compile(r"^([!-9;-~]+):(.*)$")  # RFC 5322 field name, colon, value
_TAG_RE = re.compile(r"\{\{|\{%|\{#")
_SILENTLY_IGNORED = frozenset({"mime-version", "content-transfer-encoding"})
_MULTI = frozenset({"to", "cc", "bcc", "attachment"})  # may appear more than once
_KNOWN = _MULTI | {"from", "subject", "reply-to", "content-type"}
_FORMATS = {
    "text/plain": BodyFormat.TEXT,
    "text/html": BodyFormat.HTML,
    "text/markdown": BodyFormat.MARKDOWN,
}


@dataclass(frozen=True, slots=True)
class MailmergeTemplate:
    """A mailmerge template file, read: the Template, plus its FROM for the sender."""

    template: Template
    sender: str | None  # the address in FROM: the CLI may send from it instead of the account's
    sender_name: str  # the display name in FROM ("" when none); also in `template.from_name`
    base_dir: Path | None  # the template's folder: mailmerge resolves attachments against it
    ignored_headers: tuple[str, ...] = ()  # headers mailmerge would pass on that are not sent


def load_mailmerge(path: Path | str) -> MailmergeTemplate:
    """Read a mailmerge template file (UTF-8, with or without BOM)."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read the template: {exc.strerror or exc}", source=str(file)
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"not UTF-8 (byte {exc.start}): save the template as UTF-8", source=file.name, line=line
        ) from exc
    parsed = parse_mailmerge(text, source=file.name)
    return MailmergeTemplate(
        template=parsed.template,
        sender=parsed.sender,
        sender_name=parsed.sender_name,
        base_dir=file.resolve().parent,
        ignored_headers=parsed.ignored_headers,
    )


def parse_mailmerge(text: str, *, source: str = "template") -> MailmergeTemplate:
    """Parse mailmerge's format: `TO:`, `SUBJECT:`, `FROM:` ..., a blank line, then the body.

    Supported headers (any case): TO, FROM, SUBJECT, CC, BCC, REPLY-TO, ATTACHMENT (repeatable;
    one with merge fields becomes the per-recipient attachment) and CONTENT-TYPE (text/plain,
    text/html, text/markdown, or multipart/alternative with a text/plain and a text/html part).
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    headers: list[tuple[str, str, int]] = []  # (lower-case name, value, line)
    body_start = len(lines)
    for index, line in enumerate(lines):
        if not line.strip():
            body_start = index + 1
            break
        if line[:1] in (" ", "\t") and headers:
            name, value, at = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip(), at)
            continue
        match = _HEADER_RE.match(line)
        if not match:
            raise InputError(
                "expected 'NAME: value' in the header block, or a blank line before the body",
                source=source,
                line=index + 1,
            )
        headers.append((match.group(1).lower(), match.group(2).strip(), index + 1))
    body = "\n".join(lines[body_start:])

    values: dict[str, list[tuple[str, int]]] = {}
    ignored: list[str] = []
    for name, value, at in headers:
        if name in _SILENTLY_IGNORED:
            continue
        if name not in _KNOWN:
            ignored.append(name)
            continue
        if name not in _MULTI and name in values:
            raise InputError(f"{name.upper()} appears more than once", source=source, line=at)
        values.setdefault(name, []).append((value, at))

    def one(name: str) -> tuple[str, int] | None:
        found = values.get(name)
        return found[0] if found else None

    subject = one("subject")
    if subject is None:
        raise InputError("SUBJECT is missing from the header block", source=source, line=1)
    to = values.get("to")
    sender, sender_name = _parse_from(one("from"), source)
    fmt, html_or_text, alternative = _parse_body(one("content-type"), body, source)
    shared, per_recipient = _attachments(values.get("attachment", []), source)
    reply_to = one("reply-to")
    template = Template(
        subject=subject[0],
        body=html_or_text,
        format=fmt,
        text_alternative=alternative,
        attachments=shared,
        recipient_attachment=per_recipient,
        reply_to=reply_to[0] if reply_to else None,
        cc=tuple(value for value, _ in values.get("cc", []) if value),
        bcc=tuple(value for value, _ in values.get("bcc", []) if value),
        to=", ".join(value for value, _ in to) if to else None,
        from_name=sender_name if sender is not None else None,
    )
    return MailmergeTemplate(
        template=template,
        sender=sender,
        sender_name=sender_name,
        base_dir=None,
        ignored_headers=tuple(dict.fromkeys(ignored)),
    )


def _parse_from(found: tuple[str, int] | None, source: str) -> tuple[str | None, str]:
    if found is None:
        return None, ""
    value, at = found
    if _TAG_RE.search(value):
        raise InputError(
            "FROM cannot use merge fields: every message of a campaign has the same sender",
            source=source,
            line=at,
        )
    header = email.policy.default.header_factory("From", value)
    addresses = header.addresses
    if header.defects or len(addresses) != 1 or not addresses[0].domain:
        raise InputError(f"FROM {value!r} is not one valid address", source=source, line=at)
    address = addresses[0]
    return address.addr_spec, address.display_name


def _parse_body(
    found: tuple[str, int] | None, body: str, source: str
) -> tuple[BodyFormat, str, str | None]:
    """(format, body, text alternative) from CONTENT-TYPE and the body."""
    if found is None:
        return BodyFormat.TEXT, body, None
    value, at = found
    header = email.policy.default.header_factory("Content-Type", value)
    ctype = header.content_type
    if ctype in _FORMATS:
        return _FORMATS[ctype], body, None
    if ctype != "multipart/alternative":
        raise InputError(
            f"Content-Type {ctype} is not supported (text/plain, text/html, text/markdown, "
            "multipart/alternative)",
            source=source,
            line=at,
        )
    message = email.message_from_string(
        f"Content-Type: {value}\n\n{body}", policy=email.policy.default
    )
    # Defects such as a missing closing boundary are tolerated, as mailmerge tolerates them.
    if not message.is_multipart() or not list(message.iter_parts()):
        raise InputError(
            "multipart/alternative body has no parts (check the boundary)", source=source, line=at
        )
    plain = html = None
    for part in message.iter_parts():
        kind = part.get_content_type()
        payload = part.get_payload()
        content = payload if isinstance(payload, str) else ""
        if part.get("Content-Transfer-Encoding", "7bit").lower() not in {"7bit", "8bit"}:
            content = part.get_content()
        if kind == "text/plain" and plain is None:
            plain = content
        elif kind == "text/html" and html is None:
            html = content
    if html is not None:
        return BodyFormat.HTML, html, plain
    if plain is not None:
        return BodyFormat.TEXT, plain, None
    raise InputError(
        "multipart/alternative needs a text/plain or text/html part", source=source, line=at
    )


def _attachments(found: list[tuple[str, int]], source: str) -> tuple[tuple[str, ...], str | None]:
    shared: list[str] = []
    per_recipient: str | None = None
    for value, at in found:
        if not value:
            raise InputError("ATTACHMENT is empty", source=source, line=at)
        if not _TAG_RE.search(value):
            shared.append(value)
        elif per_recipient is None:
            per_recipient = value
        else:
            raise InputError(
                "only one ATTACHMENT may use merge fields (a per-recipient file)",
                source=source,
                line=at,
            )
    return tuple(shared), per_recipient
