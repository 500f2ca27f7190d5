"""One address checked the way the mailer needs it: syntax only, no header-breaking characters."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Sequence

import idna

from core.errors import InputError

__all__ = [
    "EMAIL_COLUMN_NAMES",
    "NameColumns",
    "checked_address",
    "detect_email_column",
    "detect_name_columns",
    "find_forbidden",
    "forbidden_reason",
    "identity",
    "is_plain_address",
    "validate_address",
]

# Characters that must never reach a header: C0 controls (CR, LF, NUL, TAB ...), DEL, C1
# controls (NEL ...) and the Unicode line and paragraph separators.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Header spellings that name the email column, after `_header_key`, best first.
EMAIL_COLUMN_NAMES: tuple[str, ...] = ("email", "emailaddress", "mail", "address")

_CONTROL_NAMES = {
    "\x00": "NUL",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\x0b": "VERTICAL TAB",
    "\x0c": "FORM FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
    "\x85": "NEXT LINE",
}

_FULL_NAME_KEYS = ("name", "fullname", "displayname")
_FIRST_NAME_KEYS = ("firstname", "first", "givenname", "forename")
_LAST_NAME_KEYS = ("lastname", "last", "surname", "familyname")

NameColumns = tuple[int, ...]  # indexes of the columns that make up the display name


# An ASCII dot-atom local part at a domain of ASCII labels: the common address, which every
# parser reads as itself (no quotes, comments, spaces or specials), so a fast path may skip
# parsing it. It says nothing of validity: `a@b` matches (email-validator wants a dot).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def is_plain_address(value: str) -> bool:
    """True for an ASCII `dot.atom@domain.labels` with nothing around it (see `_PLAIN_ADDRESS`).

    For such a value, `validate_address` changes nothing but the domain's case (when it
    accepts it), and an SMTP path is just `<value>`.
    """
    return _PLAIN_ADDRESS.fullmatch(value) is not None


def find_forbidden(value: str) -> str | None:
    """The first character of `value` that must not reach a mail header, or None."""
    match = _FORBIDDEN.search(value)
    return match.group() if match else None


def forbidden_reason(char: str) -> str:
    """A person's explanation of why `char` rejects a value."""
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character")
    return f"contains U+{ord(char):04X} ({name}), which could forge or break a mail header"


def validate_address(value: str) -> tuple[str, bool]:
    """Check one address (syntax only) and return it normalized, with its SMTPUTF8 need.

    Surrounding spaces are ignored. The domain comes back in lowercase A-labels
    (`user@bücher.de` -> `user@xn--bcher-kva.de`); the local part is kept as given, up
    to the Unicode NFC normalization email-validator applies. A non-ASCII local part is
    accepted and flagged: only a server offering SMTPUTF8 can take it. Any control
    character rejects the address instead of being dropped, so `x\\r\\ny@ex.com` never
    becomes `xy@ex.com`. Raises `InputError` with the reason.
    """
    bad = find_forbidden(value)
    if bad is not None:
        raise InputError(forbidden_reason(bad))
    address = value.strip()
    if not address:
        raise InputError("no email address")
    local, domain, smtputf8 = checked_address(address)
    return f"{local}@{domain}", smtputf8


def checked_address(address: str) -> tuple[str, str, bool]:
    """(local part, domain in lowercase A-labels, needs SMTPUTF8) of one bare address.

    email-validator's answer (syntax only; a non-ASCII local part allowed), without it for
    the common address (see `_plainly_valid`). Raises `InputError` with its reason.
    """
    plain = _plainly_valid(address)
    if plain is not None:
        local, _, domain = plain.rpartition("@")
        return local, domain, False
    from email_validator import EmailNotValidError, validate_email  # 14 ms to import

    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise InputError(str(exc)) from exc
    return checked.local_part, checked.ascii_domain, bool(checked.smtputf8)


# email-validator's limits and reserved names (email_validator.rfc_constants and
# SPECIAL_USE_DOMAIN_NAMES, version 2.4; tests/core/test_plain_address.py holds the two to
# the same answers).
_EMAIL_MAX = 254  # so the domain is within its 253 too
_LABEL_MAX = 63
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})


def _plainly_valid(address: str) -> str | None:
    """`address` as email-validator would return it, when it surely accepts it; else None.

    The common address (see `is_plain_address`) within the length limits, at a domain with
    a dot, an alphabetic top-level label that is not a reserved name, and no `--` anywhere
    (Punycode and its look-alikes go to email-validator). Its only change is the domain's
    case. About 1 us against email-validator's 23 us: most of a large list's import.
    """
    if len(address) > _EMAIL_MAX or _PLAIN_ADDRESS.fullmatch(address) is None:
        return None
    local, _, domain = address.rpartition("@")
    domain = domain.lower()
    if "--" in domain:
        return None
    labels = domain.split(".")
    top = labels[-1]
    if len(labels) < 2 or not top.isalpha() or top in _SPECIAL_USE:
        return None
    if any(len(label) > _LABEL_MAX for label in labels):
        return None
    return f"{local}@{domain}"


def identity(email: str) -> str:
    """The key two addresses share when they are the same recipient.

    The whole address in `str.lower()` (not `casefold()`: `ß` and `ss` are two
    mailboxes) with the domain as A-labels, so `ANN@BÜCHER.de` and `ann@xn--bcher-kva.de`
    are one recipient. Used for duplicates in a list, the suppression list and twin
    campaigns alike. Takes any string; one without `@`, or whose domain is not a
    valid IDN, is only lowered.
    """
    address = email.strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    if not domain.isascii():
        with contextlib.suppress(idna.IDNAError):
            domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local.lower()}@{domain.lower()}"


def _header_key(name: str) -> str:
    """A column name reduced for matching: case, spaces, `_`, `-` and `.` ignored."""
    return re.sub(r"[\s_.\-]+", "", name.casefold())


def detect_email_column(header: Sequence[str]) -> str | None:
    """The column that holds the addresses, by name, or None.

    Recognized (any case, surrounding spaces, `_`, `-` and `.` ignored): email, e-mail,
    email address, mail, address; when several are present the earlier name in that
    list wins, then the leftmost column.
    """
    keys = [_header_key(name) for name in header]
    for wanted in EMAIL_COLUMN_NAMES:
        for index, key in enumerate(keys):
            if key == wanted:
                return header[index]
    return None


def detect_name_columns(header: Sequence[str], *, skip: int) -> NameColumns:
    """The columns that fill `Recipient.name`: a full-name column, else first (+ last) name.

    A column called name, full name or display name wins; otherwise first name (or
    given name, forename) followed by last name (or surname, family name) when present.
    The column at index `skip` (the email column) is never used.
    """
    keys = {_header_key(name): index for index, name in reversed(list(enumerate(header)))}
    keys = {key: index for key, index in keys.items() if index != skip}
    for key in _FULL_NAME_KEYS:
        if key in keys:
            return (keys[key],)
    first = next((keys[key] for key in _FIRST_NAME_KEYS if key in keys), None)
    last = next((keys[key] for key in _LAST_NAME_KEYS if key in keys), None)
    return tuple(index for index in (first, last) if index is not None)
