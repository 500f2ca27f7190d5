"""The one place that talks SMTP: strict TLS, login, reused connections, proxies, pipelining.

- `client`: `SMTPTransport` (connect, STARTTLS and login policy through aiosmtplib; then
  submit / settle / send on our own send path) and `LoginGuard`.
- `pipeline`: `Wire`, the send path after the login: envelope pipelined (RFC 2920), across
  messages too, every reply attributed to its step and recipient (docs/transport.md).
- `replies`: the reply parser and the `ReplyReader` protocol that reads every reply in order.
- `errors`: `EXCEPTION_MAP` and `translate_exception`, where third-party errors become ours.
- `tls`: the verifying TLS context and certificate failures named.
- `certinfo`: a certificate's subject, issuer and dates (read from DER), and the clock check.
- `proxies`: which proxy a connection uses (the account's or ALL_PROXY), and
  `https_proxy_url` for the HTTP API transports (HTTPS_PROXY).
- `gmail_api`: `GmailAPITransport`, the same port over Google's `users.messages.send`.
- `factory`: `make_transport(account, credentials)` picks one of the two.
"""

from typing import TYPE_CHECKING, Any

from core.transport.client import LoginGuard, SessionInfo, SMTPTransport, StepCallback
from core.transport.errors import EXCEPTION_MAP, translate_exception
from core.transport.factory import make_transport
from core.transport.proxies import ProxyChoice, choose_proxy, https_proxy_url
from core.transport.replies import Reply
from core.transport.tls import build_tls_context

if TYPE_CHECKING:
    from core.transport.gmail_api import GmailAPITransport

__all__ = [
    "EXCEPTION_MAP",
    "GmailAPITransport",
    "LoginGuard",
    "ProxyChoice",
    "Reply",
    "SMTPTransport",
    "SessionInfo",
    "StepCallback",
    "build_tls_context",
    "choose_proxy",
    "https_proxy_url",
    "make_transport",
    "translate_exception",
]


def __getattr__(name: str) -> Any:
    """`GmailAPITransport` on first use: its httpx import is for Gmail API accounts only."""
    if name == "GmailAPITransport":
        from core.transport.gmail_api import GmailAPITransport

        return GmailAPITransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
