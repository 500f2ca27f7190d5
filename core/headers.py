"""Encode and check header lines: stdlib folding, address lists, header-injection guards."""

from __future__ import annotations

import re
from collections.abc import Sequence
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from typing import TYPE_CHECKING, Any

from core.errors import InputError, IssueKind, MergeError
from core.recipients.address import checked_address

__all__ = [
    "MAX_HEADER_CHARS",
    "MAX_LINE_OCTETS",
    "SMTPUTF8_POLICY",
    "SMTP_POLICY",
    "check_header_value",
    "fold_header",
    "injection_error",
    "list_unsubscribe",
    "needs_smtputf8",
    "own_address",
    "parse_address_list",
    "verify_header_block",
]

MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1: no line may be longer, CRLF excluded
MAX_HEADER_CHARS = 900  # a rendered header value (subject, address list, URL) may not be longer
_URL_HEADERS = frozenset({"list-unsubscribe"})  # folding would turn long URLs into encoded-words
_HEADER_BREAK_RE = re.compile(r"[\r\n\x00]")
_URI_BAD_RE = re.compile(r'[^\x21-\x7e]|[",<>]')
_CRLF = b"\r\n"
_FOLD_WIDTH = 78  # policy.SMTP.max_line_length
_UTF8 = "utf-8"
_TEXT_HEADERS = frozenset({"subject"})  # unstructured headers that may carry encoded-words
_PRINTABLE_RE = re.compile(r"[ -~]+")  # printable ASCII: a header value the folder leaves alone
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOT_ATOM_ADDRESS_RE = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*")


if TYPE_CHECKING:  # generic only in typeshed
    _PolicyBase = EmailPolicy[EmailMessage]
else:
    _PolicyBase = EmailPolicy


class _SMTPPolicy(_PolicyBase):
    """`email.policy.SMTP`, except that URL-list headers are folded only past 998 octets.

    The stock folder turns any word longer than 78 characters into an RFC 2047 encoded-word,
    which breaks the `<https://...>` of a List-Unsubscribe header.
    """

    def fold(self, name: str, value: Any) -> Any:
        if name.lower() in _URL_HEADERS and self.max_line_length != MAX_LINE_OCTETS:
            return self.clone(max_line_length=MAX_LINE_OCTETS).fold(name, value)
        return super().fold(name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() in _URL_HEADERS and self.max_line_length != MAX_LINE_OCTETS:
            return self.clone(max_line_length=MAX_LINE_OCTETS).fold_binary(name, value)
        return super().fold_binary(name, value)


SMTP_POLICY = _SMTPPolicy(linesep="\r\n")
SMTPUTF8_POLICY = SMTP_POLICY.clone(utf8=True)


def _check_folded(name: str, folded: bytes) -> bytes:
    """Refuse a folded header that smuggles in a line of its own or is too long to send.

    Python before 3.11.10 decodes encoded-words found in a value and can write a CR/LF they
    contain verbatim (CVE-2024-6923); this check makes that impossible whatever the version.
    """
    lines = folded.split(_CRLF)
    if lines[-1] != b"":
        raise injection_error(name)
    for index, line in enumerate(lines[:-1]):
        if b"\r" in line or b"\n" in line or b"\0" in line:
            raise injection_error(name)
        if index and line[:1] not in (b" ", b"\t"):
            raise injection_error(name)
        if len(line) > MAX_LINE_OCTETS:
            raise MergeError(
                f"{name} header would be longer than {MAX_LINE_OCTETS} octets on one line",
                kind=IssueKind.INVALID_HEADER,
                part=name.lower(),
            )
    return folded


def fold_header(
    name: str, value: str | Sequence[Address], *, policy: EmailPolicy | None = None
) -> bytes:
    """One header line (with its CRLF), encoded by the stdlib and checked for injection.

    The general case is `policy.header_factory` + `policy.fold_binary`. Two common cases take
    a cheaper stdlib route: a short printable-ASCII value, which the folder returns unchanged
    (written as is; tests prove the bytes identical), and a non-ASCII subject or display name,
    encoded with `email.header.Header` (RFC 2047 encoded-words, ~15x faster).
    """
    pol = policy or SMTP_POLICY
    if not pol.utf8:
        quick = _quick_fold(name, value)
        if quick is not None:
            return _check_folded(name, quick)
    return _check_folded(name, pol.fold_binary(name, pol.header_factory(name, value)))


def _is_plain(name: str, text: str) -> bool:
    width = MAX_LINE_OCTETS if name.lower() in _URL_HEADERS else _FOLD_WIDTH
    return (
        len(name) + 2 + len(text) <= width
        and _PRINTABLE_RE.fullmatch(text) is not None
        and "=?" not in text
    )


def _encoded_words(name: str, text: str) -> str | None:
    """`text` as RFC 2047 encoded-words folded for header `name`, if it is worth doing so."""
    if text.isascii() or text != " ".join(text.split()):
        return None  # ASCII needs no encoding; odd whitespace is left to the full folder
    return Header(text, _UTF8, header_name=name).encode(linesep="\r\n")


def _quick_fold(name: str, value: str | Sequence[Address]) -> bytes | None:
    if isinstance(value, str):
        if _is_plain(name, value):
            return f"{name}: {value}\r\n".encode("ascii")
        words = _encoded_words(name, value) if name.lower() in _TEXT_HEADERS else None
        return None if words is None else f"{name}: {words}\r\n".encode("ascii")
    if len(value) != 1:
        return None
    address = value[0]
    text = str(address)
    if _is_plain(name, text):
        return f"{name}: {text}\r\n".encode("ascii")
    spec = f"<{address.addr_spec}>"
    if not _PRINTABLE_RE.fullmatch(spec):
        return None
    words = _encoded_words(name, address.display_name)
    if words is None or "\r\n" in words:
        # Several encoded-words in a display name: some parsers (Python's among them) keep
        # the folding space between them, so long names take the stdlib folder.
        return None
    sep = " " if len(name) + 2 + len(words) + 1 + len(spec) <= _FOLD_WIDTH else "\r\n "
    return f"{name}: {words}{sep}{spec}\r\n".encode("ascii")


def injection_error(name: str) -> MergeError:
    """The MergeError for a header that would smuggle in a line of its own."""
    return MergeError(
        f"{name} would contain a line break or NUL (header injection refused)",
        kind=IssueKind.HEADER_INJECTION,
        part=name.lower(),
    )


def check_header_value(value: str, part: str) -> str:
    """`value` unchanged, or MergeError if it holds CR, LF or NUL or is too long for a header."""
    if _HEADER_BREAK_RE.search(value):
        raise MergeError(
            f"{part} contains a line break or NUL (header injection refused)",
            kind=IssueKind.HEADER_INJECTION,
            part=part,
        )
    if len(value) > MAX_HEADER_CHARS:
        raise MergeError(
            f"{part} is longer than {MAX_HEADER_CHARS} characters",
            kind=IssueKind.INVALID_HEADER,
            part=part,
        )
    return value


def parse_address_list(value: str, *, part: str) -> tuple[Address, ...]:
    """The addresses in a rendered header value (`a@x.com, Name <b@y.org>`), each validated.

    Parsing is the stdlib's; every address is then checked with email-validator (no DNS) and
    its domain converted to A-labels. Raises MergeError (INVALID_ADDRESS, HEADER_INJECTION).
    """
    check_header_value(value, part)
    try:
        header = SMTP_POLICY.header_factory("To", value)
    except Exception as exc:  # the stdlib parser trips on some input in many ways
        raise MergeError(
            f"{part}: {value!r} is not a valid address list",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        ) from exc
    if header.defects:
        raise MergeError(
            f"{part}: {value!r} is not a valid address list ({header.defects[0]})",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        )
    return tuple(_checked(address, part) for address in header.addresses)


def _checked(address: Address, part: str) -> Address:
    try:
        local, domain, _ = checked_address(address.addr_spec)
    except InputError as exc:
        raise MergeError(
            f"{part}: {address.addr_spec!r} is not a valid address ({exc})",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        ) from exc
    return Address(display_name=address.display_name, username=local, domain=domain)


def own_address(display_name: str, email: str, part: str) -> Address:
    """An address we already trust (validated on import or configured), checked for safety."""
    check_header_value(display_name, part)
    check_header_value(email, part)
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise MergeError(
            f"{part}: {email!r} is not an address", kind=IssueKind.INVALID_ADDRESS, part=part
        )
    if not local.isascii() or _DOT_ATOM_ADDRESS_RE.fullmatch(email):
        # A plain dot-atom parses to exactly these parts (skip the parser: it costs ~25 us);
        # a non-ASCII local part (SMTPUTF8) is refused by the parser but valid here.
        return Address(display_name=display_name, username=local, domain=domain)
    try:
        return Address(display_name=display_name, addr_spec=email)
    except Exception as exc:  # the stdlib parser raises many kinds
        raise MergeError(
            f"{part}: {email!r} is not a valid address ({exc})",
            kind=IssueKind.INVALID_ADDRESS,
            part=part,
        ) from exc


def needs_smtputf8(address: Address) -> bool:
    """True when the address's local part is not ASCII (the server must offer SMTPUTF8)."""
    return not address.username.isascii()


def verify_header_block(payload: bytes, expected: list[str]) -> None:
    """The generated header block holds exactly the headers we set, each line sendable."""
    block, _, _ = payload.partition(b"\r\n\r\n")
    names: list[str] = []
    for line in block.split(_CRLF):
        if b"\r" in line or b"\n" in line or b"\0" in line:
            raise injection_error("header")
        if len(line) > MAX_LINE_OCTETS:
            raise MergeError(
                f"a header would be longer than {MAX_LINE_OCTETS} octets on one line",
                kind=IssueKind.INVALID_HEADER,
            )
        if line[:1] not in (b" ", b"\t"):
            names.append(line.partition(b":")[0].decode("utf-8", "replace").lower())
    if names != [name.lower() for name in expected]:
        raise injection_error("header")


def list_unsubscribe(mailto: str | None, url: str | None) -> str | None:
    """The List-Unsubscribe value (`<mailto:...>, <https://...>`), or None if there is none."""
    items: list[str] = []
    mailto = (mailto or "").strip()
    if mailto:
        if not mailto.lower().startswith("mailto:"):
            mailto = f"mailto:{mailto}"
        items.append(f"<{_checked_uri(mailto, 'list_unsubscribe_mailto')}>")
    url = (url or "").strip()
    if url:
        if not url.lower().startswith("https://"):
            raise MergeError(
                "list_unsubscribe_url must be an https:// URL (RFC 8058 one-click)",
                kind=IssueKind.INVALID_HEADER,
                part="list_unsubscribe_url",
            )
        items.append(f"<{_checked_uri(url, 'list_unsubscribe_url')}>")
    return ", ".join(items) if items else None


def _checked_uri(uri: str, part: str) -> str:
    check_header_value(uri, part)
    if _URI_BAD_RE.search(uri):
        raise MergeError(
            f"{part} must be plain ASCII without spaces, quotes, commas or <>; "
            "encode merged values with |urlencode",
            kind=IssueKind.INVALID_HEADER,
            part=part,
        )
    return uri
