"""Address headers merged from data: a value from a row is a quoted name or exactly one address."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.headerregistry import Address

from core.errors import InputError, IssueKind, MergeError
from core.headers import SMTP_POLICY, check_header_value, parse_address_list
from core.recipients.address import checked_address

__all__ = [
    "DATA_CLOSE",
    "DATA_OPEN",
    "LiteralRecipient",
    "MergedAddress",
    "has_data",
    "literal_recipients",
    "mark_data",
    "merged_addresses",
    "plain",
]

# Every `{{ ... }}` output of an address header template is wrapped in these two
# private-use characters (by the Jinja2 environment's `finalize`), so the builder knows
# which characters came from a row and which the template's author wrote.
DATA_OPEN = "\ue000"
DATA_CLOSE = "\ue001"
_MARKERS = (DATA_OPEN, DATA_CLOSE)
_SPAN_RE = re.compile(f"{DATA_OPEN}([^{DATA_OPEN}{DATA_CLOSE}]*){DATA_CLOSE}")
_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_SLOT_PREFIX = "zdata"
_SLOT_DOMAIN = "data.invalid"  # RFC 2606: never a real domain


@dataclass(frozen=True, slots=True)
class MergedAddress:
    """One address of a merged header, and whether any of it came from the row's data."""

    address: Address
    from_data: bool


@dataclass(frozen=True, slots=True)
class LiteralRecipient:
    """An address written in the template itself (an archive Bcc): every message goes to it."""

    part: str  # to, cc[0], bcc[1] ...
    address: str


def mark_data(value: object) -> str:
    """Jinja2 `finalize` for address headers: a merged value, wrapped in the data markers."""
    text = str(value)
    if DATA_OPEN in text or DATA_CLOSE in text:
        raise ValueError("a merged value contains a reserved character (U+E000 or U+E001)")
    return f"{DATA_OPEN}{text}{DATA_CLOSE}"


def has_data(value: str) -> bool:
    """True when some of a rendered address header came from the row."""
    return DATA_OPEN in value


def plain(value: str) -> str:
    """A rendered address header as a person reads it: the data markers removed."""
    return value.replace(DATA_OPEN, "").replace(DATA_CLOSE, "") if DATA_OPEN in value else value


def _error(part: str, message: str) -> MergeError:
    return MergeError(f"{part}: {message}", kind=IssueKind.INVALID_ADDRESS, part=part)


def _split_items(text: str) -> Iterator[str]:
    """The comma-separated items of an address list, commas in quotes, <> or () kept."""
    start = depth = 0
    quoted = angle = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth:
            continue
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif char == "," and not angle:
            yield text[start:index]
            start = index + 1
    yield text[start:]


class _Skeleton:
    """A rendered value with each data span swapped for an inert atom the parser cannot misread."""

    def __init__(self, value: str, part: str) -> None:
        literal = _SPAN_RE.sub("", value)
        if DATA_OPEN in literal or DATA_CLOSE in literal:
            raise _error(part, "a merged value could not be placed (unbalanced data markers)")
        prefix = _SLOT_PREFIX
        while prefix in literal.lower():
            prefix += "x"
        self.values: dict[str, str] = {}

        def swap(match: re.Match[str]) -> str:
            token = f"{prefix}{len(self.values)}z"
            self.values[token] = match.group(1)
            return token

        self.text = _SPAN_RE.sub(swap, value)
        self.prefix = prefix

    def tokens_in(self, text: str) -> list[str]:
        return re.findall(rf"{self.prefix}\d+z", text)

    def fill(self, text: str) -> str:
        return re.sub(rf"{self.prefix}\d+z", lambda m: self.values[m.group()], text)


def _mailbox(text: str, shown: str, part: str) -> Address:
    """The one mailbox `text` holds (no group, no second address), as the stdlib parses it."""
    try:
        header = SMTP_POLICY.header_factory("To", text)
        groups = header.groups
    except Exception as exc:  # the stdlib parser raises many kinds on odd input
        raise _error(part, f"{shown!r} is not a valid address") from exc
    if header.defects or len(groups) != 1 or groups[0].display_name or len(header.addresses) != 1:
        raise _error(part, f"{shown!r} is not exactly one valid address")
    found: Address = header.addresses[0]
    return found


def _one_address(value: str, part: str, *, bare: bool) -> Address:
    """A data value in an address's place: exactly one well-formed address."""
    value = value.strip()
    if bare:
        check_header_value(value, part)
        found = _mailbox(value, value, part)
        local, domain = _checked_spec(found.addr_spec, part)
        return Address(display_name=found.display_name, username=local, domain=domain)
    try:
        local, domain, _ = checked_address(value)
    except InputError as exc:
        raise _error(part, f"{value!r} from the data is not one valid address ({exc})") from exc
    return Address(username=local, domain=domain)


def _checked_spec(spec: str, part: str) -> tuple[str, str]:
    try:
        local, domain, _ = checked_address(spec)
    except InputError as exc:
        raise _error(part, f"{spec!r} is not one valid address ({exc})") from exc
    return local, domain


def _item(skeleton: _Skeleton, item: str, part: str) -> MergedAddress | None:
    stripped = item.strip()
    tokens = skeleton.tokens_in(stripped)
    if not tokens:
        return MergedAddress(_only(parse_address_list(stripped, part=part), stripped, part), False)
    if not skeleton.fill(stripped).strip():
        return None  # an empty optional value (no Cc for this row)
    if stripped == tokens[0] and len(tokens) == 1:
        return MergedAddress(_one_address(skeleton.values[stripped], part, bare=True), True)
    stand_in = f"{_SLOT_PREFIX}@{_SLOT_DOMAIN}"
    angle = re.search(r"<\s*([^<>\s]*)\s*>", stripped)
    whole: str | None = None
    if angle is not None and angle.group(1) in skeleton.values:
        whole = angle.group(1)
        stripped = stripped[: angle.start()] + f"<{stand_in}>" + stripped[angle.end() :]
    parsed = _mailbox(stripped, plain(skeleton.fill(item)).strip(), part)
    name = skeleton.fill(parsed.display_name)
    check_header_value(name, part)
    if whole is not None and parsed.addr_spec == stand_in:
        address = _one_address(skeleton.values[whole], part, bare=False)
        merged = Address(display_name=name, username=address.username, domain=address.domain)
        return MergedAddress(merged, True)
    local, domain = _checked_spec(skeleton.fill(parsed.addr_spec), part)
    return MergedAddress(Address(display_name=name, username=local, domain=domain), True)


def _only(found: tuple[Address, ...], item: str, part: str) -> Address:
    if len(found) != 1:
        raise _error(part, f"{item!r} is not exactly one address")
    return found[0]


def merged_addresses(value: str, *, part: str) -> tuple[MergedAddress, ...]:
    """The addresses of a rendered address header whose merged values carry the data markers.

    The template's own text gives the structure; data never does: a value in a display
    name stays a name (quoted when written), a value in an address's place must be
    exactly one well-formed address, a value inside an address (`{{ user }}@corp.com`)
    must leave one valid address. A value without markers is parsed as written. Raises
    MergeError (INVALID_ADDRESS, HEADER_INJECTION) naming `part`.
    """
    check_header_value(plain(value), part)
    if not has_data(value):
        return tuple(MergedAddress(a, False) for a in parse_address_list(value, part=part))
    skeleton = _Skeleton(value, part)
    out: list[MergedAddress] = []
    for item in _split_items(skeleton.text):
        if not item.strip():
            continue
        merged = _item(skeleton, item, part)
        if merged is not None:
            out.append(merged)
    return tuple(out)


def _literal_items(source: str, part: str) -> Iterator[LiteralRecipient]:
    skeleton = _TAG_RE.sub(lambda m: "" if m.group().startswith("{%") else "\0", source)
    for item in _split_items(skeleton):
        if "\0" in item or not item.strip() or "{" in item:
            continue
        try:
            found = parse_address_list(item.strip(), part=part)
        except MergeError:
            continue  # the pre-flight reports it for every row
        for address in found:
            yield LiteralRecipient(part, address.addr_spec)


def literal_recipients(
    *, to: str | None, cc: tuple[str, ...] = (), bcc: tuple[str, ...] = ()
) -> tuple[LiteralRecipient, ...]:
    """Addresses written in the template's To, Cc and Bcc themselves: every message goes there.

    An item that holds a merge field (`{{ ... }}`) is the row's and is not listed; an
    item inside `{% if %}` is listed (it may go to every recipient).
    """
    out: list[LiteralRecipient] = []
    if to is not None:
        out.extend(_literal_items(to, "to"))
    for name, values in (("cc", cc), ("bcc", bcc)):
        for index, source in enumerate(values):
            out.extend(_literal_items(source, f"{name}[{index}]"))
    return tuple(out)
