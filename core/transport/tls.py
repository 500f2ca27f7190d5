"""The TLS side of the transport: a verifying client context, and certificate failures named."""

from __future__ import annotations

import ssl
from pathlib import Path

from core.errors import Phase, TLSError
from core.models import Account

__all__ = ["PEM_MARKER", "TLS_REASONS", "build_tls_context", "load_ca_path", "tls_error"]

PEM_MARKER = b"-----BEGIN CERTIFICATE-----"
_PEM_SNIFF_BYTES = 1024 * 1024  # a CA bundle larger than this is not a CA bundle

# Verify codes from OpenSSL (X509_V_ERR_*), named so a person can act on them.
TLS_REASONS = {
    2: "unknown-ca",  # unable to get issuer certificate
    9: "not-yet-valid",
    10: "expired",
    18: "unknown-ca",  # self-signed leaf
    19: "unknown-ca",  # self-signed certificate in chain
    20: "unknown-ca",  # unable to get local issuer certificate
    21: "unknown-ca",  # unable to verify the first certificate
    62: "hostname",
    64: "ip-mismatch",  # the account uses an IP address the certificate does not list
}

# OpenSSL's reason when a TLS client gets plain text back (an SMTP greeting, say).
_PLAIN_TEXT_REASONS = ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE")


def load_ca_path(context: ssl.SSLContext, path: str) -> None:
    """Trust the CA certificates in `path` (a PEM file or a folder of them).

    Raises `TLSError` with reason `ca-file-missing` or `ca-file-not-pem` naming the path.
    """
    where = Path(path).expanduser()
    if where.is_dir():
        pems = sorted(p for p in where.iterdir() if p.is_file() and _is_pem(p))
        if not pems:
            raise TLSError(
                f"the CA folder {path!r} holds no PEM certificate (no file with "
                f"'{PEM_MARKER.decode()}')",
                reason="ca-file-not-pem",
            )
        for pem in pems:
            load_ca_path(context, str(pem))
        return
    if not where.is_file():
        raise TLSError(f"the CA file {path!r} does not exist", reason="ca-file-missing")
    if not _is_pem(where):
        raise TLSError(
            f"the CA file {path!r} is not a PEM certificate (no '{PEM_MARKER.decode()}' line)",
            reason="ca-file-not-pem",
        )
    try:
        context.load_verify_locations(cafile=str(where))
    except (OSError, ssl.SSLError) as exc:
        raise TLSError(
            f"cannot load the CA file {path!r}: {exc}", reason="ca-file-not-pem"
        ) from exc


def _is_pem(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return PEM_MARKER in handle.read(_PEM_SNIFF_BYTES)
    except OSError:
        return False


def build_tls_context(account: Account) -> ssl.SSLContext:
    """A client context that verifies certificates unless the account explicitly says not to.

    Every pinned CA file or folder (`account.tls.ca_paths`) is trusted besides the system's.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    for path in account.tls.ca_paths:
        load_ca_path(context, path)
    if not account.tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def tls_error(exc: BaseException, phase: Phase) -> TLSError:
    """Our error for a failed handshake, with the certificate problem named when there is one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = TLS_REASONS.get(getattr(exc, "verify_code", 0), "certificate")
        detail = getattr(exc, "verify_message", "") or str(exc)
        return TLSError(f"certificate check failed: {detail}", phase=phase, reason=reason)
    if any(name in str(exc) for name in _PLAIN_TEXT_REASONS):
        return TLSError(
            f"TLS handshake failed: the server answered in plain text ({exc})",
            phase=phase,
            reason="not-tls",
        )
    return TLSError(f"TLS handshake failed: {exc}", phase=phase, reason="handshake")
