"""The one credential resolver: where the secrets for a login come from, in one order.

Every use case that connects (send, resume, retry, test-send, verify) asks this resolver, from
the web face and the CLI alike. The order: what this run was given explicitly (a password in
the proxy URL), the environment (`BULKMAILER_SMTP_PASSWORD`, `BULKMAILER_PROXY_PASSWORD`),
what this run already asked for, the vault, and last a prompt the face supplies. The right
slot is filled for the account's login method (a password, or an OAuth token for XOAUTH2). A
saved secret is only ever used for the host (case-insensitive) and user it was saved for; a
saved proxy password only for the same proxy.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from core.credentials import CredentialProvider
from core.errors import InputError, SignInRequiredError
from core.models import Account, AuthMethod, Credentials, Secret
from storage.accounts import AccountBook
from storage.errors import AccountNotFoundError, StorageError, WrongPassphraseError
from storage.oauth_tokens import SignIns, signed_in_name
from storage.settings import SavedAccount
from storage.vault import SecretKind

if TYPE_CHECKING:
    from core.oauth import OAuthCredentials

__all__ = [
    "PASSWORD_ENV",
    "PROXY_PASSWORD_ENV",
    "CredentialResolver",
    "CredentialsError",
    "LoginKey",
    "SecretRequest",
    "login_key",
]

PASSWORD_ENV = "BULKMAILER_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a secret
PROXY_PASSWORD_ENV = "BULKMAILER_PROXY_PASSWORD"  # noqa: S105 - the variable's name

LoginKey = tuple[str, str, str]


class CredentialsError(Exception):
    """The secrets cannot be had (the vault refused its passphrase, a record is damaged)."""

    def __init__(
        self, message: str, *, wrong_passphrase: bool = False, sign_in: bool = False
    ) -> None:
        super().__init__(message)
        self.wrong_passphrase = wrong_passphrase  # the face may ask for the passphrase again
        self.sign_in = sign_in  # the account must sign in (again) with its provider


@dataclass(frozen=True, slots=True)
class SecretRequest:
    """What a face asks a person for: the login secret and/or the proxy password."""

    account: Account
    title: str
    ask_login: bool
    ask_proxy: bool

    @property
    def login_label(self) -> str:
        return self.account.login_secret_name


Prompt = Callable[[SecretRequest], Awaitable[Credentials | None]]
Unlock = Callable[[], Awaitable[bool]]
Warn = Callable[[str], None]


def login_key(account: Account) -> LoginKey:
    """Who logs in where: secrets remembered for this run are kept under it."""
    proxy = account.proxy.url() if account.proxy is not None else ""
    return (account.host.lower(), account.username or "", proxy)


def _same_login(saved: Account, account: Account) -> bool:
    return (saved.host.lower(), saved.username) == (account.host.lower(), account.username)


class CredentialResolver:
    """Resolves secrets for accounts; one per face session, remembering what it was told.

    `book` opens the saved accounts (None: no saved accounts, e.g. the sandbox); `prompt`
    asks a person (None: nobody to ask); `unlock` opens the vault first when it needs a
    passphrase typed in a dialog; `warn` reports a saved secret that cannot be read (None:
    that is an error).
    """

    def __init__(
        self,
        *,
        book: Callable[[], AccountBook] | None,
        prompt: Prompt | None = None,
        unlock: Unlock | None = None,
        warn: Warn | None = None,
        environ: Mapping[str, str] | None = None,
        memory: dict[LoginKey, Credentials] | None = None,
        providers: dict[str, OAuthCredentials] | None = None,
    ) -> None:
        self._book = book
        self._prompt = prompt
        self._unlock = unlock
        self._warn = warn
        self._environ = os.environ if environ is None else environ
        self.memory: dict[LoginKey, Credentials] = {} if memory is None else memory
        # Signed-in accounts' providers, by saved name: their access tokens live only here.
        self.providers: dict[str, OAuthCredentials] = {} if providers is None else providers

    # -- what this run knows ------------------------------------------------------------------

    def remember(self, account: Account, credentials: Credentials) -> None:
        """Keep secrets for this run only (never written anywhere)."""
        self.memory[login_key(account)] = credentials

    def forget(self, account: Account) -> None:
        """Drop this run's secrets for `account` (the server refused them, or it changed)."""
        self.memory.pop(login_key(account), None)

    def _from_environment(self, account: Account) -> Credentials:
        found = Credentials()
        login = self._environ.get(PASSWORD_ENV)
        if login and account.needs_login:
            found = found.with_login_secret(account, Secret(login))
        proxy = self._environ.get(PROXY_PASSWORD_ENV)
        if proxy and account.needs_proxy_login:
            found = Credentials(found.password, found.oauth_token, Secret(proxy))
        return found

    def saved_for(self, account: Account, saved_name: str | None = None) -> SavedAccount | None:
        """The saved account whose secrets may serve `account`: the one named, or the one
        that logs in as the same user at the same host."""
        if self._book is None:
            return None
        book = self._book()
        try:
            if saved_name:
                return book.get(saved_name)
            return next((s for s in book.accounts() if _same_login(s.account, account)), None)
        except AccountNotFoundError:
            return None
        except StorageError as exc:
            raise CredentialsError(f"the saved accounts cannot be read: {exc}") from None

    def _needs_vault(
        self, saved: SavedAccount | None, account: Account, found: Credentials
    ) -> bool:
        if saved is None or not saved.remember_password:
            return False
        login_missing, proxy_missing = found.missing(account)
        return (login_missing and _same_login(saved.account, account)) or (
            proxy_missing and saved.account.proxy == account.proxy
        )

    def _from_vault(self, saved: SavedAccount, account: Account) -> Credentials:
        assert self._book is not None
        try:
            stored = self._book().credentials(saved.name)
        except WrongPassphraseError as exc:
            message = f"account {saved.name!r}: {exc}"
            raise CredentialsError(message, wrong_passphrase=True) from None
        except (StorageError, InputError) as exc:
            if self._warn is None:
                raise CredentialsError(f"account {saved.name!r}: {exc}") from None
            self._warn(f"The saved password of {saved.name} cannot be read ({exc}); enter it.")
            return Credentials()
        found = Credentials()
        if _same_login(saved.account, account):
            found = found.with_login_secret(account, stored.login_secret(account))
        if saved.account.proxy == account.proxy:
            found = Credentials(found.password, found.oauth_token, stored.proxy_password)
        return found

    def known(
        self,
        account: Account,
        *,
        saved: SavedAccount | None = None,
        given: Credentials | None = None,
    ) -> Credentials:
        """Everything known without asking a person: given, environment, this run, vault."""
        found = (given or Credentials()).or_else(self._from_environment(account))
        found = found.or_else(self.memory.get(login_key(account), Credentials()))
        if self._needs_vault(saved, account, found):
            assert saved is not None
            found = found.or_else(self._from_vault(saved, account))
        return found

    def vault_needed(self, account: Account, saved: SavedAccount | None) -> bool:
        """Whether resolving `account` would read the vault (and so may need its key)."""
        if saved is None or not saved.remember_password:
            return False
        found = self._from_environment(account).or_else(
            self.memory.get(login_key(account), Credentials())
        )
        if not self._needs_vault(saved, account, found):
            return False
        assert self._book is not None
        vault = self._book().vault
        try:
            return any(vault.has_secret(kind, saved.name) for kind in SecretKind)
        except StorageError:
            return True  # let the read report what is wrong with the vault

    # -- signed-in accounts (OAuth) -------------------------------------------------------------

    def _signed_in(
        self, account: Account, saved_name: str | None, base: Credentials
    ) -> CredentialProvider:
        """The provider of the saved account signed in as `account` (named, or found by its
        client and user): refresh token from the vault, access token in memory."""
        if self._book is None:
            raise CredentialsError("this account signs in with OAuth: sign in first")
        book = self._book()
        try:
            saved = book.get(saved_name) if saved_name else signed_in_name(book.settings, account)
        except StorageError as exc:
            raise CredentialsError(f"the saved accounts cannot be read: {exc}") from None
        if saved is None or saved.account.oauth is None:
            raise CredentialsError(
                f"no saved account is signed in as {account.username}: sign in again "
                "(python main.py account login NAME), then resume",
                sign_in=True,
            )
        cached = self.providers.get(saved.name)
        if cached is not None and cached.settings == account.oauth:
            return cached
        try:
            provider = SignIns(book.vault).provider(saved.name, account, base=base)
        except SignInRequiredError as exc:
            raise CredentialsError(str(exc), sign_in=True) from None
        except StorageError as exc:
            wrong = isinstance(exc, WrongPassphraseError)
            message = f"account {saved.name!r}: {exc}"
            raise CredentialsError(message, wrong_passphrase=wrong) from None
        self.providers[saved.name] = provider
        return provider

    def forget_sign_in(self, saved_name: str) -> None:
        """Drop a signed-in account's access token from memory (after Sign out)."""
        self.providers.pop(saved_name, None)

    @staticmethod
    def _proxy_only(account: Account) -> Account:
        """The account as far as its proxy login goes (a signed-in login needs no secret)."""
        return replace(account, auth=AuthMethod.NONE, oauth=None)

    # -- the use cases' entry points ------------------------------------------------------------

    async def secrets(
        self,
        account: Account,
        *,
        saved_name: str | None = None,
        given: Credentials | None = None,
        title: str = "",
    ) -> Credentials | CredentialProvider | None:
        """What a transport needs for `account`: credentials, or the provider of a signed-in
        account; None when the person cancelled."""
        if account.oauth is None:
            return await self.resolve(account, saved_name=saved_name, given=given, title=title)
        base = await self.resolve(
            self._proxy_only(account), saved_name=saved_name, given=given, title=title
        )
        if base is None:
            return None
        if self._unlock is not None and not await self._unlock():  # the refresh token's vault
            return None
        return await asyncio.to_thread(self._signed_in, account, saved_name, base)

    def secrets_now(
        self,
        account: Account,
        *,
        saved_name: str | None = None,
        given: Credentials | None = None,
        ask: Callable[[SecretRequest], Credentials] | None = None,
    ) -> Credentials | CredentialProvider:
        """`secrets` for a face that asks synchronously (a terminal)."""
        if account.oauth is None:
            return self.resolve_now(account, saved_name=saved_name, given=given, ask=ask)
        base = self.resolve_now(
            self._proxy_only(account), saved_name=saved_name, given=given, ask=ask
        )
        return self._signed_in(account, saved_name, base)

    async def resolve(
        self,
        account: Account,
        *,
        saved_name: str | None = None,
        given: Credentials | None = None,
        title: str = "",
    ) -> Credentials | None:
        """The secrets to connect with `account`; None when the person cancelled.

        Raises `CredentialsError` when they cannot be had and nobody can be asked.
        """
        if not (account.needs_login or account.needs_proxy_login):
            return Credentials()
        saved = self.saved_for(account, saved_name)
        unlock = self._unlock
        if unlock is not None and self.vault_needed(account, saved) and not await unlock():
            return None
        found = await asyncio.to_thread(self.known, account, saved=saved, given=given)
        login_missing, proxy_missing = found.missing(account)
        if login_missing or proxy_missing:
            if self._prompt is None:
                raise CredentialsError(self._nobody_to_ask(account, login_missing))
            request = SecretRequest(
                account,
                title or f"Log in to {saved.name if saved else account.host}",
                ask_login=login_missing,
                ask_proxy=proxy_missing,
            )
            typed = await self._prompt(request)
            if typed is None:
                return None
            found = typed.or_else(found)
        self.remember(account, found)
        return found

    def resolve_now(
        self,
        account: Account,
        *,
        saved_name: str | None = None,
        given: Credentials | None = None,
        ask: Callable[[SecretRequest], Credentials] | None = None,
    ) -> Credentials:
        """`resolve` for a face that asks synchronously (a terminal); same order, same rules."""
        if not (account.needs_login or account.needs_proxy_login):
            return Credentials()
        saved = self.saved_for(account, saved_name)
        found = self.known(account, saved=saved, given=given)
        login_missing, proxy_missing = found.missing(account)
        if login_missing or proxy_missing:
            if ask is None:
                raise CredentialsError(self._nobody_to_ask(account, login_missing))
            title = f"Log in to {saved.name if saved else account.host}"
            found = ask(SecretRequest(account, title, login_missing, proxy_missing)).or_else(found)
        self.remember(account, found)
        return found

    @staticmethod
    def _nobody_to_ask(account: Account, login_missing: bool) -> str:
        if login_missing:
            return (
                f"no {account.login_secret_name}: set {PASSWORD_ENV}, save the account with "
                "--remember-password, or run on a terminal to be asked"
            )
        return f"no proxy password: set {PROXY_PASSWORD_ENV} or run on a terminal to be asked"
