"""Start and resume campaigns for the screens: one at a time, each a background task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from core.classify import classify
from core.credentials import CredentialProvider
from core.errors import InputError, MailerError, SMTPError
from core.events import CampaignStatus
from core.message import MessageBuilder
from core.models import Account, Credentials, Recipient, Template
from core.ports import ReplyLike, TransportLike
from core.recipients import validate_address
from core.transport import make_transport
from storage.errors import StorageError
from storage.journal import CampaignLockedError, CampaignRecord, JournalError
from storage.settings import SavedAccount
from ui.services import sandbox
from ui.services.campaigns import CampaignSession, InputsChangedError
from ui.services.deliverability import signer_of
from ui.services.monitor import CampaignMonitor
from ui.services.state import ActiveCampaign, AppState

__all__ = [
    "RESUMABLE",
    "TEST_SUBJECT_PREFIX",
    "BusyError",
    "LaunchError",
    "busy_reason",
    "campaign_credentials",
    "describe_failure",
    "is_sandbox",
    "launch",
    "send_test",
    "transport_for",
]

TEST_SUBJECT_PREFIX = "[Test] "
# Where a campaign that still has recipients to send can be continued from.
RESUMABLE = frozenset(
    {
        CampaignStatus.DRAFT,
        CampaignStatus.PAUSED,
        CampaignStatus.CANCELLED,
        CampaignStatus.INTERRUPTED,
        CampaignStatus.ABORTED,
    }
)


class LaunchError(Exception):
    """A campaign could not be started or resumed; the message says what to do next."""

    def __init__(self, message: str, *, inputs_changed: bool = False) -> None:
        super().__init__(message)
        self.inputs_changed = inputs_changed  # resuming with `accept_changes` would work


class BusyError(LaunchError):
    """Another campaign is running: one at a time."""


def busy_reason(state: AppState) -> str | None:
    """Why nothing else may start now, or None."""
    active = state.active
    if active is not None and active.running:
        if active.monitor.tracker.status is CampaignStatus.PAUSED:
            return (
                f"Campaign {active.campaign_id} is paused, not finished. One campaign at a "
                "time: resume or cancel it on the Send screen."
            )
        return (
            f"Campaign {active.campaign_id} is running. One campaign at a time: wait for it, "
            "or pause or cancel it on the Send screen."
        )
    return None


def is_sandbox(account: Account) -> bool:
    """Whether a campaign's account is the built-in sandbox."""
    return account.preset == sandbox.SANDBOX_PRESET


def transport_for(account: Account) -> TransportLike | None:
    """The sandbox's port changes with every launch: send to the one running now.

    A campaign snapshots its account, port included; for a sandbox campaign that port is stale
    after a restart, so the transport goes to the current sandbox instead. None means "the
    campaign's own account" (what `CampaignSession` does by default).
    """
    if not is_sandbox(account):
        return None
    try:
        current = sandbox.sandbox_account()
    except RuntimeError:
        raise LaunchError(
            "The sandbox SMTP server is not running, so a sandbox campaign cannot send. "
            "Restart the app."
        ) from None
    return make_transport(current, Credentials())


def launch(
    state: AppState,
    campaign_id: str,
    credentials: Credentials | CredentialProvider | None,
    *,
    accept_changes: bool = False,
) -> ActiveCampaign:
    """Open the campaign with a monitor as its sink and run it as a background task.

    Raises `BusyError` while another campaign runs and `LaunchError` (with the next step in
    its message) when the campaign cannot be opened.
    """
    reason = busy_reason(state)
    if reason:
        raise BusyError(reason)
    store = state.journal
    try:
        record = store.campaign(campaign_id)
        transport = transport_for(record.account)
        monitor = CampaignMonitor()
        saved = matching_saved_account(state, record.account)
        session = CampaignSession(
            store,
            campaign_id,
            credentials,
            sink=monitor,
            accept_changes=accept_changes,
            transport=transport,
            signer=signer_of(state.vault, saved.name if saved else None),
        )
    except InputsChangedError as exc:
        raise LaunchError(str(exc), inputs_changed=True) from None
    except CampaignLockedError as exc:
        raise LaunchError(f"{exc}. Close the other one first.") from None
    except (JournalError, MailerError) as exc:  # StorageError too: a DKIM key not readable
        raise LaunchError(str(exc)) from None
    active = ActiveCampaign(session, monitor)
    state.active = active
    active.start(state.spawn)
    return active


def matching_saved_account(state: AppState, account: Account) -> SavedAccount | None:
    """The saved account that logs in as the same user at the same host (host without case)."""
    try:
        saved_accounts = state.accounts.accounts()
    except StorageError:
        return None
    key = (account.host.lower(), account.username)
    return next(
        (s for s in saved_accounts if (s.account.host.lower(), s.account.username) == key), None
    )


async def campaign_credentials(
    record: CampaignRecord,
    secrets: Callable[..., Awaitable[Credentials | CredentialProvider | None]],
) -> Credentials | CredentialProvider | None:
    """The secrets to resume a stored campaign with; None when the person cancelled.

    The sandbox needs none (its port changes, its account has no login). Otherwise the one
    credential resolver (`secrets`): the saved account that logs in as the same user at the
    same host supplies them, else a person types them for this run.
    """
    if is_sandbox(record.account):
        return Credentials()
    return await secrets(record.account, title=f"Log in to resume {record.name}")


def describe_failure(exc: BaseException, *, host: str = "") -> str:
    """A failure as the person's next step: what happened, the server's words, a hint."""
    if isinstance(exc, SMTPError):
        verdict = classify(exc, host=host)
        text = f"{verdict.reason}: {exc}"
        return f"{text}. {verdict.hint}" if verdict.hint else text
    if isinstance(exc, InputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def send_test(
    account: Account,
    credentials: Credentials | CredentialProvider,
    template: Template,
    recipient: Recipient,
    to_address: str,
    *,
    base_dir: str,
    signer: Callable[[bytes], bytes] | None = None,
) -> ReplyLike:
    """One message built for `recipient`, sent only to `to_address`; not journaled.

    The subject gets a "[Test] " prefix; Cc and Bcc of the template are not sent to.
    Raises `InputError` for a bad address or template and `SMTPError` from the server.
    """
    address, smtputf8 = validate_address(to_address)
    test_template = replace(template, subject=TEST_SUBJECT_PREFIX + template.subject)
    builder = MessageBuilder(
        account, test_template, "test-message", base_dir=base_dir, signer=signer
    )
    built = builder.build(recipient)
    transport = transport_for(account) or make_transport(account, credentials)
    try:
        await transport.connect()
        reply = await transport.send(
            account.sender, address, built.payload, smtputf8=smtputf8 or built.smtputf8
        )
    finally:
        await transport.close()
    return reply
