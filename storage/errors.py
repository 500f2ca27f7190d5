"""Errors raised by `storage`: one root under `MailerError`; messages never carry a secret."""

from __future__ import annotations

from core.errors import JournalWriteError, MailerError

__all__ = [
    "AccountNotFoundError",
    "CampaignLockedError",
    "CampaignNotFoundError",
    "JournalCorruptError",
    "JournalError",
    "JournalWriteFailedError",
    "SettingsError",
    "StorageError",
    "VaultCorruptError",
    "VaultError",
    "VaultLockedError",
    "WrongPassphraseError",
]


class StorageError(MailerError):
    """Root of everything `storage` raises on purpose."""


class SettingsError(StorageError):
    """The settings could not be written, or a saved record is not usable."""


class AccountNotFoundError(SettingsError):
    """No saved account has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no saved account named {name!r}")
        self.name = name


class VaultError(StorageError):
    """The credential vault cannot do what was asked."""


class VaultLockedError(VaultError):
    """No key is available: no usable OS keyring and no master passphrase given."""


class WrongPassphraseError(VaultError):
    """The master passphrase does not open this vault."""


class VaultCorruptError(VaultError):
    """The vault file or one of its records is damaged or was altered."""


class JournalError(StorageError):
    """The journal cannot do what was asked."""


class JournalWriteFailedError(JournalError, JournalWriteError):
    """SQLite could not write the journal (disk full, I/O error); the transaction is undone."""


class JournalCorruptError(JournalError):
    """The journal file is damaged beyond what SQLite recovers by itself."""


class CampaignNotFoundError(JournalError):
    """No campaign in the journal has this id."""

    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"no campaign with id {campaign_id!r} (see `campaigns`)")


class CampaignLockedError(JournalError):
    """Another window or process is running this campaign."""

    def __init__(self, campaign_id: str) -> None:
        super().__init__(f"campaign {campaign_id} is already running in another window or process")
