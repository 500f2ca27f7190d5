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
from ui.services import sandbox
from ui.services.credentials import CredentialResolver, CredentialsError, SecretRequest
from ui.services.state import SANDBOX_KEY, get_state

__all__ = [
    "PASSPHRASE_ENV",
    "VaultNeed",
    "ask_credentials",
    "ask_secrets_dialog",
    "draft_account",
    "resolve_credentials",
    "unlock_vault",
    "vault_need",
    "web_resolver",
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


def web_resolver() -> CredentialResolver:
    """The one credential resolver, asking in dialogs and remembering for this app session."""
    state = get_state()
    return CredentialResolver(
        book=lambda: state.accounts,
        prompt=_ask_in_dialog,
        unlock=unlock_vault,
        warn=lambda message: ui.notify(message, type="warning"),
        memory=state.credential_memory,
        providers=state.sign_in_providers,
    )


async def _ask_in_dialog(request: SecretRequest) -> Credentials | None:
    return await ask_secrets_dialog(
        request.title, request.account, ask_password=request.ask_login, ask_proxy=request.ask_proxy
    )


async def resolve_credentials(
    account: Account,
    *,
    saved_name: str | None = None,
    given: Credentials | None = None,
    title: str = "",
) -> Credentials | CredentialProvider | None:
    """The secrets for `account` (one resolver; a signed-in account's token provider); None
    when cancelled or unavailable (then the reason is shown)."""
    try:
        return await web_resolver().secrets(
            account, saved_name=saved_name, given=given, title=title
        )
    except CredentialsError as exc:
        if exc.wrong_passphrase:
            get_state().passphrase.clear()
        hint = " Use Sign in on the Accounts screen." if exc.sign_in else ""
        ui.notify(f"{exc}.{hint}", type="negative", multi_line=True)
        return None


async def ask_credentials(account_name: str) -> Credentials | CredentialProvider | None:
    """The secrets to connect with the saved account `account_name`; None when cancelled.

    Sandbox: empty credentials at once. Otherwise the one resolver's order: environment,
    what was typed earlier in this app session, the vault (asking the master passphrase if
    it is locked), then a dialog for whatever is still missing.
    """
    if account_name == SANDBOX_KEY:
        return Credentials()
    try:
        saved = get_state().accounts.get(account_name)
    except AccountNotFoundError:
        ui.notify(
            f"There is no saved account named {account_name!r}: choose one on the Accounts screen.",
            type="warning",
        )
        return None
    except StorageError as exc:
        ui.notify(f"The saved accounts cannot be read: {exc}", type="negative")
        return None
    return await resolve_credentials(saved.account, saved_name=saved.name)


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
