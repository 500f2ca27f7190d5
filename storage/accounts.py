"""Saved accounts with their remembered secrets: the account in settings, secrets in the vault."""

from __future__ import annotations

from core.models import Account, Credentials, Secret
from storage.errors import AccountNotFoundError
from storage.settings import SavedAccount, SettingsStore, validate_account_name
from storage.vault import SecretKind, Vault

__all__ = ["AccountBook"]


def _secrets(credentials: Credentials) -> dict[SecretKind, Secret | None]:
    return {
        SecretKind.SMTP_PASSWORD: credentials.password,
        SecretKind.OAUTH_REFRESH_TOKEN: credentials.oauth_token,
        SecretKind.PROXY_PASSWORD: credentials.proxy_password,
    }


def _unneeded(account: Account) -> list[SecretKind]:
    """Secrets an account can no longer use (no login, no proxy login)."""
    kinds = []
    if not account.needs_login:
        kinds += [SecretKind.SMTP_PASSWORD, SecretKind.OAUTH_REFRESH_TOKEN]
    if not account.needs_proxy_login:
        kinds.append(SecretKind.PROXY_PASSWORD)
    return kinds


class AccountBook:
    """Save, load and delete named accounts; "remember password" is per account, off by default.

    Turning "remember password" off deletes the account's stored secrets; deleting an account
    deletes them too. Reading the vault asks for its key only when a secret is really there.
    """

    def __init__(self, settings: SettingsStore, vault: Vault) -> None:
        self.settings = settings
        self.vault = vault

    def save(
        self,
        name: str,
        account: Account,
        *,
        remember_password: bool | None = None,
        credentials: Credentials | None = None,
    ) -> SavedAccount:
        """Save `account` as `name`.

        `remember_password`: True keeps the secrets given in `credentials` (encrypted; a
        secret not given keeps any stored one), False deletes every stored secret, None keeps
        the account's current choice (off for a new account). Secrets are written first, so
        a vault error (wrong passphrase) leaves the settings unchanged.
        """
        name = validate_account_name(name)
        if remember_password is None:
            try:
                remember_password = self.settings.get_saved_account(name).remember_password
            except AccountNotFoundError:
                remember_password = False
        if remember_password and credentials is not None:
            for kind, secret in _secrets(credentials).items():
                if secret:
                    self.vault.set_secret(kind, name, secret)
        saved = self.settings.save_account(name, account, remember_password=remember_password)
        if not remember_password:
            self.vault.delete_all(name)
        else:
            for kind in _unneeded(account):
                self.vault.delete_secret(kind, name)
        return saved

    def get(self, name: str) -> SavedAccount:
        """The saved account (`AccountNotFoundError` if there is none)."""
        return self.settings.get_saved_account(name)

    def accounts(self) -> list[SavedAccount]:
        """Every saved account, by name."""
        return self.settings.list_accounts()

    def has_password(self, name: str) -> bool:
        """Whether a password is stored for `name` (needs no key)."""
        return self.vault.has_secret(SecretKind.SMTP_PASSWORD, name)

    def credentials(self, name: str) -> Credentials:
        """The secrets remembered for `name` (empty if "remember password" is off)."""
        saved = self.settings.get_saved_account(name)
        if not saved.remember_password:
            return Credentials()
        return Credentials(
            password=self.vault.get_secret(SecretKind.SMTP_PASSWORD, saved.name),
            oauth_token=self.vault.get_secret(SecretKind.OAUTH_REFRESH_TOKEN, saved.name),
            proxy_password=self.vault.get_secret(SecretKind.PROXY_PASSWORD, saved.name),
        )

    def delete(self, name: str) -> bool:
        """Forget the account and its secrets; False if nothing was saved under `name`."""
        name = name.strip()
        removed = self.settings.delete_account(name)
        return self.vault.delete_all(name) > 0 or removed
