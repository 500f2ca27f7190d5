"""Secrets on demand: the SMTP password for an account, and the vault's master passphrase.

`ask_credentials(name)` is what the Accounts screen (Test connection) and the Send screen
call before connecting. The sandbox needs nothing. A saved account whose password is
remembered is read from the vault; when the vault's key is a master passphrase (no OS
keyring), a dialog asks for it once per app session. Otherwise a dialog asks for the
password, which is kept in memory for this app session only and never written anywhere.
Secrets are never logged or shown: fields are password inputs, errors name no secret.
"""

from __future__ import annotations

import asyncio
import os
from typing import Literal

from nicegui import ui

from core.credentials import CredentialProvider
from core.errors import InputError
from core.models import Account, AuthMethod, Credentials, Secret
from storage.errors import AccountNotFoundError, StorageError, VaultError, WrongPassphraseError
from storage.keys import MIN_PASSPHRASE_LENGTH, KeyringKeySource, check_new_passphrase
from storage.vault import SecretKind
from ui import sandbox
from ui.state import SANDBOX_KEY, get_state

__all__ = [
    "PASSPHRASE_ENV",
    "VaultNeed",
    "ask_credentials",
    "ask_secrets_dialog",
    "draft_account",
    "forget_session_credentials",
    "needs_password",
    "needs_proxy_password",
    "remember_session_credentials",
    "unlock_vault",
    "vault_need",
]

PASSPHRASE_ENV = "BULKMAILER_PASSPHRASE"  # noqa: S105 - the variable's name (as the CLI reads it)

VaultNeed = Literal["ready", "create", "unlock"]


def draft_account() -> Account:
    """The account the draft sends with: the running sandbox, or the saved account chosen.

    Raises RuntimeError when the draft uses the sandbox and it does not run, and
    `AccountNotFoundError` (a `StorageError`) when the chosen account was deleted.
    """
    state = get_state()
    state.restore_draft_account()
    name = state.draft.account_name
    if name == SANDBOX_KEY:
        return sandbox.sandbox_account()
    return state.accounts.get(name).account


def needs_password(account: Account) -> bool:
    """Whether logging in to `account` takes a password (or an OAuth token)."""
    return account.auth is not AuthMethod.NONE and bool(account.username)


def needs_proxy_password(account: Account) -> bool:
    """Whether the account's proxy asks for a login."""
    return account.proxy is not None and bool(account.proxy.username)


def remember_session_credentials(account_name: str, credentials: Credentials) -> None:
    """Keep secrets typed for `account_name` in memory for this app session."""
    get_state().session_credentials[account_name] = credentials


def forget_session_credentials(account_name: str) -> None:
    """Drop the in-memory secrets of one account (e.g. after the server refused them)."""
    get_state().session_credentials.pop(account_name, None)


def _secret_of(credentials: Credentials, account: Account) -> Secret | None:
    return credentials.oauth_token if account.auth is AuthMethod.XOAUTH2 else credentials.password


def _complete(credentials: Credentials, account: Account) -> bool:
    return (not needs_password(account) or bool(_secret_of(credentials, account))) and (
        not needs_proxy_password(account) or bool(credentials.proxy_password)
    )


async def ask_credentials(account_name: str) -> Credentials | CredentialProvider | None:
    """The secrets to connect with `account_name`; None when the person cancels.

    Sandbox: empty credentials at once. Otherwise, in order: what was typed earlier in this
    app session, the vault (when "remember password" is on; asks the master passphrase if
    the vault is locked), then a dialog for whatever is still missing.
    """
    if account_name == SANDBOX_KEY:
        return Credentials()
    state = get_state()
    try:
        saved = state.accounts.get(account_name)
    except AccountNotFoundError:
        ui.notify(
            f"There is no saved account named {account_name!r}: choose one on the Accounts screen.",
            type="warning",
        )
        return None
    except StorageError as exc:
        ui.notify(f"The saved accounts cannot be read: {exc}", type="negative")
        return None
    account = saved.account
    if account.oauth is not None:  # signed in with Google / Microsoft: tokens, not a password
        from ui.signin import signed_in_provider

        return await signed_in_provider(saved)
    if not needs_password(account) and not needs_proxy_password(account):
        return Credentials()
    cached = state.session_credentials.get(saved.name)
    if cached is not None and _complete(cached, account):
        return cached
    found = cached or Credentials()
    if saved.remember_password and _has_stored_secret(saved.name):
        if not await unlock_vault():
            return None
        try:
            stored = await asyncio.to_thread(state.accounts.credentials, saved.name)
        except WrongPassphraseError:
            state.passphrase.clear()
            ui.notify("The master passphrase does not open the vault.", type="negative")
            return None
        except (VaultError, InputError) as exc:
            ui.notify(f"The saved password cannot be read ({exc}); enter it.", type="warning")
        else:
            found = Credentials(
                password=stored.password or found.password,
                oauth_token=stored.oauth_token or found.oauth_token,
                proxy_password=stored.proxy_password or found.proxy_password,
            )
    if not _complete(found, account):
        typed = await ask_secrets_dialog(
            f"Log in to {saved.name}",
            account,
            ask_password=needs_password(account) and not _secret_of(found, account),
            ask_proxy=needs_proxy_password(account) and not found.proxy_password,
        )
        if typed is None:
            return None
        found = Credentials(
            password=typed.password or found.password,
            oauth_token=typed.oauth_token or found.oauth_token,
            proxy_password=typed.proxy_password or found.proxy_password,
        )
    state.session_credentials[saved.name] = found
    return found


def _has_stored_secret(name: str) -> bool:
    vault = get_state().vault
    try:
        return any(vault.has_secret(kind, name) for kind in SecretKind)
    except VaultError:
        return True  # let the read report what is wrong with the vault


async def ask_secrets_dialog(
    title: str, account: Account, *, ask_password: bool, ask_proxy: bool
) -> Credentials | None:
    """Ask the password (or OAuth token) and/or the proxy password; None on cancel."""
    token = account.auth is AuthMethod.XOAUTH2
    with ui.dialog().props("persistent") as dialog, ui.card().classes("w-96"):
        ui.label(title).classes("text-h6")
        who = f"{account.username} at {account.host}" if account.username else account.host
        ui.label(f"For {who}. Kept in memory until the app closes; never saved.").classes(
            "text-grey-8"
        )
        password = ui.input(
            "OAuth access token" if token else "Password",
            password=True,
            password_toggle_button=True,
        ).mark("credentials-password")
        password.props("autocomplete=current-password").classes("w-full")
        password.set_visibility(ask_password)
        proxy = ui.input("Proxy password", password=True, password_toggle_button=True)
        proxy.mark("credentials-proxy-password").classes("w-full")
        proxy.set_visibility(ask_proxy)

        def submit() -> None:
            ok = True
            if ask_password and not password.value:
                password.error = "Enter the password." if not token else "Enter the token."
                ok = False
            if ask_proxy and not proxy.value:
                proxy.error = "Enter the proxy password."
                ok = False
            if not ok:
                return
            secret = Secret(password.value) if ask_password else None
            dialog.submit(
                Credentials(
                    password=None if token else secret,
                    oauth_token=secret if token else None,
                    proxy_password=Secret(proxy.value) if ask_proxy else None,
                )
            )

        password.on("keydown.enter", submit)
        proxy.on("keydown.enter", submit)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat").mark(
                "credentials-cancel"
            )
            ui.button("Continue", on_click=submit).mark("credentials-ok")
    result = await dialog
    dialog.delete()
    return result if isinstance(result, Credentials) else None


def vault_need() -> VaultNeed:
    """What the vault needs before a secret can be read or written now.

    "create": no vault yet and no OS keyring, so a new master passphrase must be chosen;
    "unlock": the vault is protected by a passphrase not entered in this app session.
    Raises `VaultError` when the vault file is damaged.
    """
    state = get_state()
    source = state.vault.key_source()
    if source is None:
        if state.passphrase.is_set or KeyringKeySource().available():
            return "ready"
        return "create"
    if source == "passphrase" and not state.passphrase.is_set:
        return "unlock"
    return "ready"


async def unlock_vault() -> bool:
    """Make the vault usable now: ask (or create) the master passphrase if needed.

    True when secrets can be read and written; False when the person cancelled or the vault
    cannot be used (the reason is shown). BULKMAILER_PASSPHRASE, when set, is tried first.
    """
    try:
        need = vault_need()
    except VaultError as exc:
        ui.notify(f"The password vault cannot be used: {exc}", type="negative", multi_line=True)
        return False
    if need == "ready":
        return True
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env and await _try_passphrase(Secret(from_env), create=need == "create"):
        return True
    return await _passphrase_dialog(create=need == "create")


async def _try_passphrase(passphrase: Secret, *, create: bool) -> bool:
    """Take `passphrase` if it opens the vault (or is acceptable for a new one)."""
    state = get_state()
    if create:
        try:
            check_new_passphrase(passphrase)
        except InputError:
            return False
        state.passphrase.set(passphrase)
        return True
    state.passphrase.set(passphrase)
    try:
        await asyncio.to_thread(state.vault.unlock)
    except WrongPassphraseError:
        state.passphrase.clear()
        return False
    return True


async def _passphrase_dialog(*, create: bool) -> bool:
    state = get_state()
    with ui.dialog().props("persistent") as dialog, ui.card().classes("w-96"):
        if create:
            ui.label("Create a master passphrase").classes("text-h6")
            ui.label(
                "Remembered passwords are encrypted with a key made from this passphrase. "
                "It is not stored anywhere: if you forget it, enter your passwords again."
            ).classes("text-grey-8")
        else:
            ui.label("Unlock saved passwords").classes("text-h6")
            ui.label("Enter the master passphrase that protects your saved passwords.").classes(
                "text-grey-8"
            )
        first = ui.input(
            "New master passphrase" if create else "Master passphrase",
            password=True,
            password_toggle_button=True,
        ).classes("w-full")
        first.mark("passphrase-new" if create else "passphrase-input")
        repeat = ui.input("Repeat it", password=True, password_toggle_button=True)
        repeat.classes("w-full").mark("passphrase-repeat").set_visibility(create)
        error = ui.label("").classes("text-negative").mark("passphrase-error")
        busy = ui.spinner(size="sm")
        busy.set_visibility(False)

        async def submit() -> None:
            value = first.value or ""
            if create:
                if len(value) < MIN_PASSPHRASE_LENGTH:
                    error.text = f"Use at least {MIN_PASSPHRASE_LENGTH} characters."
                    return
                if value != repeat.value:
                    error.text = "The two passphrases differ: type the same one twice."
                    return
                state.passphrase.set(Secret(value))
                dialog.submit(True)
                return
            if not value:
                error.text = "Enter the master passphrase."
                return
            error.text = ""
            busy.set_visibility(True)
            ok_button.disable()
            try:
                opened = await _try_passphrase(Secret(value), create=False)
            except VaultError as exc:
                error.text = f"The vault cannot be opened: {exc}"
                return
            finally:
                busy.set_visibility(False)
                ok_button.enable()
            if opened:
                dialog.submit(True)
            else:
                first.value = ""
                error.text = "That passphrase does not open the vault. Try again."

        first.on("keydown.enter", submit)
        repeat.on("keydown.enter", submit)
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat").mark(
                "passphrase-cancel"
            )
            ok_button = ui.button("Create" if create else "Unlock", on_click=submit)
            ok_button.mark("passphrase-ok")
    result = await dialog
    dialog.delete()
    return result is True
