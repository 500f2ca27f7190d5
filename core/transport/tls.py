"""The TLS side of the transport: a verifying client context, and certificate failures named."""

from __future__ import annotations

import ssl

from core.errors import Phase, TLSError
from core.models import Account

__all__ = ["TLS_REASONS", "build_tls_context", "tls_error"]

# Verify codes from OpenSSL, named so a person can act on them.
TLS_REASONS = {
    10: "expired",
    9: "not-yet-valid",
    62: "hostname",
    18: "unknown-ca",
    19: "unknown-ca",
    20: "unknown-ca",
    21: "unknown-ca",
    2: "unknown-ca",
}


def build_tls_context(account: Account) -> ssl.SSLContext:
    """A client context that verifies certificates unless the account explicitly says not to."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if account.tls.ca_file:
        try:
            context.load_verify_locations(cafile=account.tls.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSError(
                f"cannot load the CA file {account.tls.ca_file!r}: {exc}", reason="ca-file"
            ) from exc
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
    return TLSError(f"TLS handshake failed: {exc}", phase=phase, reason="handshake")
