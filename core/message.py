"""Build each recipient's message bytes: constants encoded once, a fast path and a stdlib one."""

from __future__ import annotations

import binascii
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from core.address_fields import MergedAddress, has_data, merged_addresses, plain
from core.attachments import Attachment, load_attachment, resolve_attachment
from core.errors import IssueKind, MergeError
from core.headers import (
    MAX_LINE_OCTETS,
    SMTP_POLICY,
    SMTPUTF8_POLICY,
    check_header_value,
    fold_header,
    list_unsubscribe,
    needs_smtputf8,
    own_address,
    verify_header_block,
)
from core.models import Account, Recipient, Template
from core.recipients.address import identity
from core.templating import CompiledTemplate, RenderedMessage

__all__ = [
    "BuiltMessage",
    "MessageBuilder",
    "choose_transfer_encoding",
    "message_id_for",
]

_ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058
_CACHE_LIMIT = 512  # header values kept encoded per builder (static or low-cardinality ones)
_BODY_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ID_DOMAIN_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+$")
_CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class BuiltMessage:
    """One message ready for SMTP DATA (CRLF line endings; the transport dot-stuffs)."""

    payload: bytes
    message_id: str
    envelope_recipients: tuple[str, ...]  # To + Cc + Bcc, deduplicated; Bcc is not in payload
    size: int
    smtputf8: bool = False  # an address needs the server's SMTPUTF8 extension


def message_id_for(campaign_id: str, email: str, sender: str) -> str:
    """`<hash@sender-domain>`: the same campaign and recipient always get the same Message-ID."""
    seed = f"{campaign_id}\0{email}".encode("utf-8", "surrogatepass")
    return f"<{hashlib.sha256(seed).hexdigest()[:32]}@{_id_domain(sender)}>"


def _id_domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip().rstrip(".").lower()
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise MergeError(
            f"sender {sender!r}: domain cannot be encoded",
            kind=IssueKind.INVALID_ADDRESS,
            part="from",
        ) from exc
    if not ascii_domain or not _ID_DOMAIN_RE.match(ascii_domain):
        raise MergeError(
            f"sender {sender!r} has no usable domain", kind=IssueKind.INVALID_ADDRESS, part="from"
        )
    return ascii_domain


def choose_transfer_encoding(text: str) -> str:
    """'7bit' for plain ASCII with lines of at most 998 octets, else 'quoted-printable'."""
    if (
        text.isascii()
        and not _BODY_CONTROL_RE.search(text)
        and max(map(len, text.split("\n"))) <= MAX_LINE_OCTETS
    ):
        return "7bit"
    return "quoted-printable"


def _normalize_body(text: str) -> str:
    """LF line endings and a final newline, as `EmailMessage.set_content` would make them."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def _encode_body(text: str, cte: str) -> bytes:
    if cte == "7bit":
        return text.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return encoded.replace(b"\n", _CRLF)


@dataclass(frozen=True, slots=True)
class _Headers:
    """The per-recipient header values, validated, before encoding."""

    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    cc_key: str
    reply_to: tuple[Address, ...]
    reply_to_key: str
    subject: str
    unsubscribe: str | None
    envelope: tuple[str, ...]
    smtputf8: bool
    message_id: str


class MessageBuilder:
    """Builds every message of one campaign; everything that does not vary is encoded once.

    `build` takes a fast path for the common case (no per-recipient attachment, no SMTPUTF8):
    it joins pre-encoded bytes with the few headers that change, each still encoded by the
    stdlib header machinery (`Address` + `policy.fold_binary`). Anything else goes through
    `EmailMessage`. Both produce messages that parse to the same headers and body.
    """

    def __init__(
        self,
        account: Account,
        template: Template,
        campaign_id: str,
        *,
        base_dir: Path | str,
        compiled: CompiledTemplate | None = None,
        fast_path: bool = True,
        clock: Callable[[], float] = time.time,
        signer: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.account = account
        self.template = template
        self.campaign_id = campaign_id
        self.base_dir = Path(base_dir)
        self.compiled = compiled if compiled is not None else CompiledTemplate(template)
        self.fast_path = fast_path
        self.signer = signer  # the last step of every build, e.g. `core.dkim.DkimSigner`
        self.fast_builds = 0  # counters for benchmarks and tests
        self.slow_builds = 0
        self._clock = clock
        self._folded: dict[tuple[str, str], bytes] = {}
        self._parsed: dict[tuple[str, str], tuple[MergedAddress, ...]] = {}
        self._date_second = -1
        self._date = ""
        self._date_line = b""

        display = template.from_name if template.from_name is not None else account.sender_name
        self._from = (own_address(display, account.sender, "from"),)
        self._sender_utf8 = needs_smtputf8(self._from[0])
        message_id_for(campaign_id, "", account.sender)  # fail now on an unusable sender domain
        self._from_line = b"" if self._sender_utf8 else self._fold_addresses("From", self._from)

        digest = hashlib.sha256(f"boundary\0{campaign_id}".encode()).hexdigest()[:24]
        self._boundary_mark = digest
        self._alt_boundary = f"=_alt_{digest}".encode("ascii")
        self._mixed_boundary = f"=_mix_{digest}".encode("ascii")
        self._alt_header = self._fold_text(
            "Content-Type", f'multipart/alternative; boundary="=_alt_{digest}"'
        )
        self._mixed_header = self._fold_text(
            "Content-Type", f'multipart/mixed; boundary="=_mix_{digest}"'
        )
        self._leaf_headers = {
            (subtype, cte): self._fold_text("Content-Type", f'text/{subtype}; charset="utf-8"')
            + self._fold_text("Content-Transfer-Encoding", cte)
            for subtype in ("plain", "html")
            for cte in ("7bit", "quoted-printable")
        }
        self._mime_version = self._fold_text("MIME-Version", "1.0")
        self._one_click = (
            self._fold_text("List-Unsubscribe-Post", _ONE_CLICK)
            if template.list_unsubscribe_url
            else b""
        )
        self._shared = tuple(
            load_attachment(resolve_attachment(self.base_dir, name, from_data=False))
            for name in template.attachments
        )
        self._shared_parts = tuple(att.part for att in self._shared)

    # -- public --------------------------------------------------------------------------

    def build(self, recipient: Recipient) -> BuiltMessage:
        """Render and encode one recipient's message. Raises MergeError (an InputError)."""
        return self.build_rendered(recipient, self.compiled.render(recipient))

    def build_rendered(self, recipient: Recipient, rendered: RenderedMessage) -> BuiltMessage:
        """Encode an already rendered message for `recipient`."""
        with _about(recipient):
            heads = self._headers(recipient, rendered)
            own = (
                load_attachment(
                    resolve_attachment(self.base_dir, rendered.attachment, from_data=True)
                )
                if rendered.attachment is not None
                else None
            )
            if self.fast_path and own is None and not heads.smtputf8:
                payload = self._assemble(heads, rendered, self._shared_parts)
                self.fast_builds += 1
            else:
                attachments = self._shared if own is None else (*self._shared, own)
                payload = self._email_message(heads, rendered, attachments)
                self.slow_builds += 1
        if self.signer is not None:
            payload = self.signer(payload)
        return BuiltMessage(
            payload=payload,
            message_id=heads.message_id,
            envelope_recipients=heads.envelope,
            size=len(payload),
            smtputf8=heads.smtputf8,
        )

    def measure(self, recipient: Recipient, rendered: RenderedMessage) -> tuple[int, bool]:
        """(size in bytes without any per-recipient attachment, needs SMTPUTF8) for pre-flight."""
        with _about(recipient):
            heads = self._headers(recipient, rendered)
            if heads.smtputf8 or not self.fast_path:
                return len(self._email_message(heads, rendered, self._shared)), heads.smtputf8
            return len(self._assemble(heads, rendered, self._shared_parts)), False

    # -- headers -------------------------------------------------------------------------

    def _headers(self, recipient: Recipient, rendered: RenderedMessage) -> _Headers:
        rendered_to = rendered.to
        own_to = rendered_to is None or plain(rendered_to).strip() == recipient.email
        if rendered_to is None or own_to:
            name = check_header_value(recipient.name, "name") if rendered_to is None else ""
            name = " ".join(name.split())  # after the check: split() would hide CR/LF
            to: tuple[Address, ...] = (own_address(name, recipient.email, "to"),)
        else:
            to, own_to = self._to_addresses(rendered_to, recipient)
        cc = self._address_lists(rendered.cc, "cc")
        bcc = self._address_lists(rendered.bcc, "bcc")
        reply_to = (
            tuple(m.address for m in self._addresses(rendered.reply_to, "reply_to"))
            if rendered.reply_to and plain(rendered.reply_to).strip()
            else ()
        )
        # Whitespace runs collapse to one space, as header folding would do anyway.
        subject = " ".join(check_header_value(rendered.subject, "subject").split())
        envelope: dict[str, str] = {identity(recipient.email): recipient.email} if own_to else {}
        for address in (*to, *cc, *bcc):
            envelope.setdefault(identity(address.addr_spec), address.addr_spec)
        smtputf8 = (
            self._sender_utf8
            or recipient.needs_smtputf8
            or any(needs_smtputf8(address) for address in (*to, *cc, *bcc, *reply_to))
        )
        return _Headers(
            to=to,
            cc=cc,
            cc_key="\0".join(rendered.cc),
            reply_to=reply_to,
            reply_to_key=rendered.reply_to or "",
            subject=subject,
            unsubscribe=list_unsubscribe(
                rendered.list_unsubscribe_mailto, rendered.list_unsubscribe_url
            ),
            envelope=tuple(envelope.values()),
            smtputf8=smtputf8,
            message_id=message_id_for(self.campaign_id, recipient.email, self.account.sender),
        )

    def _to_addresses(
        self, rendered_to: str, recipient: Recipient
    ) -> tuple[tuple[Address, ...], bool]:
        """The To addresses and whether the row's recipient is among them.

        A To built from data must give exactly the row's recipient (compared as duplicates
        are); addresses the template itself writes are allowed beside it.
        """
        merged = self._addresses(rendered_to, "to")
        if not merged:
            raise MergeError("to is empty after merging", kind=IssueKind.INVALID_ADDRESS, part="to")
        from_data = [m.address for m in merged if m.from_data]
        if has_data(rendered_to) and (
            len(from_data) != 1 or identity(from_data[0].addr_spec) != identity(recipient.email)
        ):
            found = ", ".join(a.addr_spec for a in from_data) or "no address"
            raise MergeError(
                f"to: the merged To gives {found}, not this row's recipient {recipient.email}",
                kind=IssueKind.INVALID_ADDRESS,
                part="to",
            )
        return tuple(m.address for m in merged), bool(from_data)

    def _addresses(self, value: str, part: str) -> tuple[MergedAddress, ...]:
        key = (part, value)
        cached = self._parsed.get(key)
        if cached is None:
            cached = merged_addresses(value, part=part) if plain(value).strip() else ()
            if len(self._parsed) >= _CACHE_LIMIT:
                self._parsed.clear()
            self._parsed[key] = cached
        return cached

    def _address_lists(self, values: Iterable[str], part: str) -> tuple[Address, ...]:
        out: list[Address] = []
        for index, value in enumerate(values):
            out.extend(m.address for m in self._addresses(value, f"{part}[{index}]"))
        return tuple(out)

    def _fold_text(self, name: str, value: str) -> bytes:
        key = (name, value)
        folded = self._folded.get(key)
        if folded is None:
            folded = fold_header(name, value)
            if len(self._folded) >= _CACHE_LIMIT:
                self._folded.clear()
            self._folded[key] = folded
        return folded

    def _fold_addresses(
        self, name: str, addresses: Sequence[Address], key: str | None = None
    ) -> bytes:
        if key is not None:
            folded = self._folded.get((name, key))
            if folded is not None:
                return folded
        folded = fold_header(name, addresses)
        if key is not None:
            if len(self._folded) >= _CACHE_LIMIT:
                self._folded.clear()
            self._folded[(name, key)] = folded
        return folded

    def _date_value(self) -> str:
        now = self._clock()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date = format_datetime(datetime.fromtimestamp(second, UTC))
            # Date and Message-ID are ASCII we generate ourselves: nothing to encode or fold.
            self._date_line = b"Date: " + self._date.encode("ascii") + _CRLF
        return self._date

    # -- fast path -----------------------------------------------------------------------

    def _assemble(
        self, heads: _Headers, rendered: RenderedMessage, attachments: Sequence[bytes]
    ) -> bytes:
        self._date_value()
        out = [self._from_line, self._fold_addresses("To", heads.to)]
        if heads.cc:
            out.append(self._fold_addresses("Cc", heads.cc, heads.cc_key))
        if heads.reply_to:
            out.append(self._fold_addresses("Reply-To", heads.reply_to, heads.reply_to_key))
        out.append(self._fold_text("Subject", heads.subject))
        out.append(self._date_line)
        out.append(b"Message-ID: " + heads.message_id.encode("ascii") + _CRLF)
        if heads.unsubscribe is not None:
            out.append(self._fold_text("List-Unsubscribe", heads.unsubscribe))
            out.append(self._one_click)
        out.append(self._mime_version)
        leaves = []
        if rendered.text is not None:
            leaves.append(self._leaf(rendered.text, "plain"))
        if rendered.html is not None:
            leaves.append(self._leaf(rendered.html, "html"))
        body = (
            self._multipart(self._alt_header, self._alt_boundary, leaves)
            if len(leaves) > 1
            else leaves[0]
        )
        if attachments:
            body = self._multipart(self._mixed_header, self._mixed_boundary, [body, *attachments])
        out.append(body)
        return b"".join(out)

    def _leaf(self, text: str, subtype: str) -> bytes:
        text = _normalize_body(text)
        cte = choose_transfer_encoding(text)
        if cte == "7bit" and self._boundary_mark in text:
            cte = "quoted-printable"  # QP output can never contain our "=_" boundaries
        return self._leaf_headers[(subtype, cte)] + _CRLF + _encode_body(text, cte)

    @staticmethod
    def _multipart(header: bytes, boundary: bytes, parts: Sequence[bytes]) -> bytes:
        # The same layout as email.generator: parts end in CRLF, then CRLF--boundary.
        out = [header, _CRLF, b"--", boundary, _CRLF]
        for index, part in enumerate(parts):
            if index:
                out += [_CRLF, b"--", boundary, _CRLF]
            out.append(part)
        out += [_CRLF, b"--", boundary, b"--", _CRLF]
        return b"".join(out)

    # -- EmailMessage path ---------------------------------------------------------------

    def _email_message(
        self, heads: _Headers, rendered: RenderedMessage, attachments: Sequence[Attachment]
    ) -> bytes:
        policy = SMTPUTF8_POLICY if heads.smtputf8 else SMTP_POLICY
        msg = EmailMessage(policy=policy)
        msg["From"] = self._from
        msg["To"] = heads.to
        if heads.cc:
            msg["Cc"] = heads.cc
        if heads.reply_to:
            msg["Reply-To"] = heads.reply_to
        msg["Subject"] = heads.subject
        msg["Date"] = self._date_value()
        msg["Message-ID"] = heads.message_id
        if heads.unsubscribe is not None:
            msg["List-Unsubscribe"] = heads.unsubscribe
            if self._one_click:
                msg["List-Unsubscribe-Post"] = _ONE_CLICK
        msg["MIME-Version"] = "1.0"
        text = None if rendered.text is None else _normalize_body(rendered.text)
        html = None if rendered.html is None else _normalize_body(rendered.html)
        if text is not None:
            msg.set_content(text, cte=choose_transfer_encoding(text))
            if html is not None:
                msg.add_alternative(html, subtype="html", cte=choose_transfer_encoding(html))
        elif html is not None:
            msg.set_content(html, subtype="html", cte=choose_transfer_encoding(html))
        for att in attachments:
            msg.add_attachment(
                att.data, att.maintype, att.subtype, filename=att.filename, params=att.params
            )
        payload = msg.as_bytes(policy=policy)
        verify_header_block(payload, list(msg.keys()))
        return payload


@contextmanager
def _about(recipient: Recipient) -> Iterator[None]:
    """Every failure while encoding one recipient becomes a MergeError naming that recipient."""
    try:
        yield
    except MergeError as exc:
        raise exc.for_recipient(recipient) from exc
    except UnicodeError as exc:
        raise MergeError(
            f"message contains text that cannot be encoded ({exc})", kind=IssueKind.RENDER_ERROR
        ).for_recipient(recipient) from exc
    except Exception as exc:  # the stdlib's header parser and folder raise many kinds
        # Any failure to build one recipient's message is that row's problem: the
        # pre-flight lists it and the campaign goes on with the others.
        raise MergeError(
            f"the message cannot be built ({type(exc).__name__}: {exc})",
            kind=IssueKind.INVALID_HEADER,
        ).for_recipient(recipient) from exc
