"""What a server certificate says (subject, issuer, dates), read from DER, and the clock check."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

__all__ = ["CLOCK_FLOOR", "CertInfo", "clock_verdict", "parse_certificate"]

# No correct clock reads earlier than this: the date this check was written.
CLOCK_FLOOR = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_SKEW_TOLERANCE = dt.timedelta(minutes=5)  # clocks this close agree
_JUST_ISSUED = dt.timedelta(days=1)  # a certificate this new may be valid before our clock

_SEQUENCE, _SET, _OID, _UTC_TIME, _GENERALIZED_TIME = 0x30, 0x31, 0x06, 0x17, 0x18
_CONTEXT_0, _CONTEXT_3 = 0xA0, 0xA3  # [0] version, [3] extensions
_DNS_NAME, _IP_ADDRESS = 0x82, 0x87  # GeneralName [2] and [7]
_SAN_OID = bytes.fromhex("551d11")  # 2.5.29.17 subjectAltName
_OID_NAMES = {
    bytes.fromhex("550403"): "CN",
    bytes.fromhex("55040a"): "O",
    bytes.fromhex("55040b"): "OU",
    bytes.fromhex("550406"): "C",
}


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The parts of a certificate a person checks: who it names, who signed it, and when."""

    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    names: tuple[str, ...] = ()  # subjectAltName: DNS names and IP addresses


def _tlv(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at `at`."""
    tag, length = data[at], data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    end = at + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, at, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items = []
    while start < end:
        item = _tlv(data, start)
        items.append(item)
        start = item[2]
    return items


def _name(data: bytes, start: int, end: int) -> str:
    parts = []
    for _, set_start, set_end in _children(data, start, end):
        for _, seq_start, seq_end in _children(data, set_start, set_end):
            (_, oid_start, oid_end), (_, value_start, value_end) = _children(
                data, seq_start, seq_end
            )[:2]
            label = _OID_NAMES.get(data[oid_start:oid_end])
            if label:
                value = data[value_start:value_end].decode("utf-8", "replace")
                parts.append(f"{label}={value}")
    return ", ".join(parts)


def _time(data: bytes, tag: int, start: int, end: int) -> dt.datetime:
    text = data[start:end].decode("ascii").rstrip("Z")
    if tag == _UTC_TIME:  # YYMMDDHHMMSS; RFC 5280: 50-99 are 19xx
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def _alt_names(data: bytes, extensions: tuple[int, int, int]) -> tuple[str, ...]:
    """DNS names and IP addresses of the subjectAltName extension, if there is one."""
    (_, seq_start, seq_end) = _tlv(data, extensions[1])
    for _, ext_start, ext_end in _children(data, seq_start, seq_end):
        parts = _children(data, ext_start, ext_end)
        if data[parts[0][1] : parts[0][2]] != _SAN_OID:
            continue
        _, value_start, _ = parts[-1]  # OCTET STRING holding GeneralNames
        _, names_start, names_end = _tlv(data, value_start)
        names = []
        for tag, start, end in _children(data, names_start, names_end):
            if tag == _DNS_NAME:
                names.append(data[start:end].decode("ascii", "replace"))
            elif tag == _IP_ADDRESS:
                names.append(str(ipaddress.ip_address(data[start:end])))
        return tuple(names)
    return ()


def parse_certificate(der: bytes) -> CertInfo:
    """Subject, issuer and validity of an X.509 certificate in DER. `ValueError` if malformed."""
    try:
        _, cert_start, cert_end = _tlv(der, 0)
        _, tbs_start, tbs_end = _children(der, cert_start, cert_end)[0]
        fields = _children(der, tbs_start, tbs_end)
        if fields[0][0] == _CONTEXT_0:  # explicit version
            fields = fields[1:]
        # serial, signature algorithm, issuer, validity, subject
        issuer, validity, subject = fields[2], fields[3], fields[4]
        extensions = next((f for f in fields[5:] if f[0] == _CONTEXT_3), None)
        (b_tag, b_start, b_end), (a_tag, a_start, a_end) = _children(der, validity[1], validity[2])
        return CertInfo(
            subject=_name(der, subject[1], subject[2]),
            issuer=_name(der, issuer[1], issuer[2]),
            not_before=_time(der, b_tag, b_start, b_end),
            not_after=_time(der, a_tag, a_start, a_end),
            names=_alt_names(der, extensions) if extensions else (),
        )
    except (IndexError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not a certificate: {exc}") from exc


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def clock_verdict(
    cert: CertInfo, *, now: dt.datetime, server_time: dt.datetime | None = None
) -> str:
    """Which is likely wrong, this computer's clock or the certificate, as a sentence.

    The computer's clock is doubted when it reads before `CLOCK_FLOOR`, or when the server's
    own clock (a date in its greeting, when it sends one) disagrees by more than a few minutes.
    A certificate not valid yet by more than a day also points at a clock that is behind.
    """
    clock = f"this computer's clock says {_when(now)}"
    if now < CLOCK_FLOOR:
        return f"{clock}, which cannot be right: set this computer's date and time, then retry."
    if server_time is not None and abs(server_time - now) > _SKEW_TOLERANCE:
        return (
            f"{clock} but the server's says {_when(server_time)}: this computer's clock is "
            "likely wrong; set its date and time (turn on automatic time), then retry."
        )
    if now > cert.not_after:
        return (
            f"The certificate expired on {_when(cert.not_after)} and {clock}, which looks "
            "right: the server's certificate has likely expired; tell the server's admin. "
            "If this computer's date is wrong, fix it and retry."
        )
    if now < cert.not_before:
        if cert.not_before - now > _JUST_ISSUED:
            return (
                f"The certificate is valid from {_when(cert.not_before)} but {clock}: this "
                "computer's clock is likely behind; set its date and time, then retry."
            )
        return (
            f"The certificate is valid from {_when(cert.not_before)}, only just after {clock}: "
            "it was issued moments ago or the server's clock is ahead; retry in a while, and "
            "check this computer's date and time."
        )
    return f"The certificate is valid now ({clock}); its dates are not the problem."
