"""Pick the transport an account sends through: its SMTP server or the Gmail API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.credentials import CredentialProvider
from core.models import Account, Credentials, TransportKind
from core.ports import TransportLike
from core.transport.client import LoginGuard, SMTPTransport, StepCallback

if TYPE_CHECKING:
    from core.transport.gmail_api import GmailAPITransport

__all__ = ["make_transport"]


def make_transport(
    account: Account,
    credentials: Credentials | CredentialProvider | None = None,
    *,
    on_step: StepCallback | None = None,
    login_guard: LoginGuard | None = None,
) -> SMTPTransport | GmailAPITransport:
    """`GmailAPITransport` for a Gmail API account, else `SMTPTransport`; both `TransportLike`.

    `login_guard` is shared by a campaign's connections: one login budget for all of them.
    """
    if account.transport is TransportKind.GMAIL_API:
        # Imported here: httpx costs a plain SMTP campaign's start-up nothing then.
        from core.transport.gmail_api import GmailAPITransport

        return GmailAPITransport(account, credentials, on_step=on_step)
    return SMTPTransport(account, credentials, on_step=on_step, login_guard=login_guard)


def _conforms(transport: SMTPTransport | GmailAPITransport) -> TransportLike:
    return transport  # mypy checks that both transports fit the engine's port
