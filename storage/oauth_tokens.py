"""Signed-in accounts: the refresh token (and a Google client's secret) only in the vault."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import SignInRequiredError
from core.models import Account, Credentials, Secret
from storage.settings import SavedAccount, SettingsStore
from storage.vault import SecretKind, Vault

if TYPE_CHECKING:
    from core.oauth import OAuthCredentials

__all__ = ["SignIns", "signed_in_name"]


class SignIns:
    """Keeps what a sign-in brought in the vault and builds the account's credential provider.

    Only the refresh token is kept (encrypted); access tokens stay in memory. A refresh token
    the provider rotates is written back at once, so the next run does not use a dead one.
    """

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def save(self, name: str, refresh_token: Secret, client_secret: Secret | None) -> None:
        self.vault.set_secret(SecretKind.OAUTH_REFRESH_TOKEN, name, refresh_token)
        if client_secret:
            self.vault.set_secret(SecretKind.OAUTH_CLIENT_SECRET, name, client_secret)
        else:
            self.vault.delete_secret(SecretKind.OAUTH_CLIENT_SECRET, name)

    def forget(self, name: str) -> bool:
        """Sign out: delete the refresh token and client secret; False if none was kept."""
        removed = self.vault.delete_secret(SecretKind.OAUTH_REFRESH_TOKEN, name)
        self.vault.delete_secret(SecretKind.OAUTH_CLIENT_SECRET, name)
        return removed

    def is_signed_in(self, name: str) -> bool:
        """Whether a refresh token is kept for `name` (needs no key)."""
        return self.vault.has_secret(SecretKind.OAUTH_REFRESH_TOKEN, name)

    def provider(
        self, name: str, account: Account, *, base: Credentials | None = None
    ) -> OAuthCredentials:
        """The credential provider for the signed-in account `name`."""
        if account.oauth is None:
            raise ValueError(f"account {name!r} does not sign in with OAuth")
        refresh = self.vault.get_secret(SecretKind.OAUTH_REFRESH_TOKEN, name)
        if refresh is None:
            raise SignInRequiredError(
                f"account {name!r} is not signed in: sign in first "
                f"(python main.py account login {name} --provider {account.oauth.provider.value})",
                provider=account.oauth.provider.value,
            )
        client_secret = self.vault.get_secret(SecretKind.OAUTH_CLIENT_SECRET, name)

        def keep(rotated: Secret) -> None:
            self.vault.set_secret(SecretKind.OAUTH_REFRESH_TOKEN, name, rotated)

        from core.oauth import OAuthCredentials  # Authlib and httpx: only when signed in

        return OAuthCredentials(
            account.oauth, refresh, client_secret=client_secret, base=base, on_rotate=keep
        )


def signed_in_name(settings: SettingsStore, account: Account) -> SavedAccount | None:
    """The saved account a campaign's snapshot signed in as (same client, user and transport)."""
    if account.oauth is None:
        return None
    for saved in settings.list_accounts():
        other = saved.account
        if (
            other.oauth is not None
            and other.oauth.client_id == account.oauth.client_id
            and other.oauth.provider is account.oauth.provider
            and (other.username or "").lower() == (account.username or "").lower()
        ):
            return saved
    return None
