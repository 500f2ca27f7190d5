"""The Accounts screen: saved accounts and the sandbox, the one the draft uses, add/edit/test."""

from __future__ import annotations

import asyncio

from nicegui import ui

from core.diagnose import diagnose
from core.errors import InputError, Phase
from core.models import Account, Credentials
from storage.errors import StorageError, WrongPassphraseError
from storage.settings import SavedAccount
from ui import sandbox
from ui.account_form import AccountForm
from ui.credentials import (
    ask_credentials,
    ask_secrets_dialog,
    forget_session_credentials,
    needs_password,
    needs_proxy_password,
    remember_session_credentials,
    unlock_vault,
)
from ui.deliverability import dkim_key_of
from ui.deliverability_view import show_domain_check
from ui.layout import screen_title
from ui.state import SANDBOX_KEY, get_state
from ui.widgets import show_diagnosis, slug

__all__ = ["page", "use_account"]


def use_account(name: str) -> None:
    """Make the draft send with `name` (SANDBOX_KEY: the sandbox) and remember the choice."""
    state = get_state()
    state.draft.account_name = name
    try:
        state.settings.update_preferences(last_account=name or None)
    except StorageError as exc:
        ui.notify(f"Your choice holds until the app closes (not saved: {exc}).", type="warning")


def _describe(account: Account) -> str:
    parts = [f"{account.host}:{account.port}", account.security.value.upper()]
    if account.username:
        parts.append(account.username)
    return " · ".join(parts)


def page() -> None:
    """Build the Accounts screen."""
    state = get_state()
    state.restore_draft_account()
    screen_title("Accounts")
    ui.label(
        "The SMTP account your messages go out through. Until you add one, the built-in "
        "sandbox keeps every message on this computer (see the Outbox)."
    ).classes("text-grey-8")
    for warning in _settings_warnings():
        ui.label(warning).classes("text-warning").mark("accounts-warning")

    form: AccountForm
    with ui.element("div").classes("w-full grid grid-cols-1 lg:grid-cols-3 gap-4 q-mt-md"):
        with ui.card().classes("self-start"):
            ui.label("Your accounts").classes("text-h6")
            account_list = ui.column().classes("w-full gap-2").mark("account-list")
            ui.button("Add an account", icon="add", on_click=lambda: form.load(None)).props(
                "outline"
            ).mark("account-new")
        with ui.column().classes("lg:col-span-2 gap-4"):
            with ui.card().classes("w-full"):
                form = AccountForm()
                with ui.row().classes("q-mt-sm"):
                    save_button = ui.button("Save", icon="save").mark("account-save")
                    test_button = ui.button("Test connection", icon="network_check")
                    test_button.props("outline").mark("account-test")
            with ui.card().classes("w-full") as report_card:
                ui.label("Connection test").classes("text-h6")
                report = ui.column().classes("w-full gap-1").mark("diagnosis")
            report_card.set_visibility(False)

    def refresh_list() -> None:
        account_list.clear()
        try:
            saved = state.accounts.accounts()
        except StorageError as exc:
            saved = []
            ui.notify(f"The saved accounts cannot be read: {exc}", type="negative")
        chosen = state.draft.account_name
        if chosen != SANDBOX_KEY and chosen not in {item.name for item in saved}:
            use_account(SANDBOX_KEY)
            chosen = SANDBOX_KEY
        with account_list:
            _row(SANDBOX_KEY, sandbox.SANDBOX_ACCOUNT_NAME, _sandbox_line(), chosen)
            for item in saved:
                line = _describe(item.account)
                if item.remember_password and state.accounts.has_password(item.name):
                    line += " · password saved"
                _row(item.name, item.name, line, chosen, saved=item)

    def _row(
        key: str, title: str, line: str, chosen: str, saved: SavedAccount | None = None
    ) -> None:
        mark = slug(key) if key else "sandbox"
        in_use = key == chosen
        with (
            ui.card()
            .props("flat bordered")
            .classes("w-full q-pa-sm" + (" bg-blue-1" if in_use else ""))
            .mark(f"account-row account-row-{mark}")
        ):
            ui.label(title).classes("text-weight-medium break-words")
            ui.label(line).classes("text-caption text-grey-8 break-words")
            with ui.row().classes("items-center gap-1"):
                if in_use:
                    ui.badge("In use").mark(f"account-in-use account-in-use-{mark}")
                else:
                    ui.button("Use", on_click=lambda: choose(key)).props("flat dense").mark(
                        f"account-use-{mark}"
                    )
                if saved is not None:
                    ui.button("Edit", on_click=lambda: form.load(saved)).props("flat dense").mark(
                        f"account-edit-{mark}"
                    )
                    ui.button("Test", on_click=lambda: test_saved(key)).props("flat dense").mark(
                        f"account-test-{mark}"
                    )
                    ui.button("Delete", on_click=lambda: delete(saved)).props(
                        "flat dense color=negative"
                    ).mark(f"account-delete-{mark}")

    def choose(key: str) -> None:
        use_account(key)
        refresh_list()
        ui.notify(f"Messages will go through {key or 'the sandbox'}.")

    async def delete(saved: SavedAccount) -> None:
        with ui.dialog() as dialog, ui.card():
            ui.label(f"Delete the account {saved.name!r} and its saved password?")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat").mark(
                    "account-delete-cancel"
                )
                ui.button("Delete", on_click=lambda: dialog.submit(True)).props(
                    "color=negative"
                ).mark("account-delete-confirm")
        confirmed = await dialog
        dialog.delete()
        if confirmed is not True:
            return
        try:
            await asyncio.to_thread(state.accounts.delete, saved.name)
        except StorageError as exc:
            ui.notify(f"Not deleted: {exc}", type="negative")
            return
        forget_session_credentials(saved.name)
        if form.editing == saved.name:
            form.load(None)
        refresh_list()
        ui.notify(f"Deleted {saved.name}.")

    async def save() -> None:
        result = form.check()
        if result.account is None:
            ui.notify("Check the marked fields.", type="warning")
            return
        name = str(form.name.value).strip()
        try:
            taken = {item.name for item in state.accounts.accounts()}
        except StorageError as exc:
            ui.notify(f"Not saved: {exc}", type="negative")
            return
        if form.editing is None and name in taken:
            form.name.error = "An account has this name: choose another, or edit that one."
            return
        password, proxy_password = form.secrets(result)
        remember = bool(form.remember.value)
        typed = Credentials(password=password, proxy_password=proxy_password)
        if remember and (password or proxy_password) and not await unlock_vault():
            ui.notify("Not saved: remembering a password needs the master passphrase.")
            return
        account = result.account
        try:
            saved = await asyncio.to_thread(
                state.accounts.save,
                name,
                account,
                remember_password=remember,
                credentials=typed if remember else None,
            )
        except WrongPassphraseError:
            state.passphrase.clear()
            ui.notify("The master passphrase is wrong: nothing was saved.", type="negative")
            return
        except (StorageError, InputError) as exc:
            ui.notify(f"Not saved: {exc}", type="negative")
            return
        if password or proxy_password:
            remember_session_credentials(saved.name, typed)
        else:
            forget_session_credentials(saved.name)  # login details may have changed
        form.load(saved)
        refresh_list()
        note = ""
        if remember and needs_password(account) and not state.accounts.has_password(saved.name):
            note = " No password is stored yet: you will be asked for it when you send."
        ui.notify(f"Saved {saved.name}.{note}", type="positive")

    async def run_check(account: Account, credentials: Credentials, name: str | None) -> None:
        report_card.set_visibility(True)
        report.clear()
        with report:
            ui.spinner()
            ui.label(f"Connecting to {account.host}:{account.port} …").mark("diagnosis-running")
        test_button.disable()
        try:
            diagnosis = await diagnose(account, credentials)
        finally:
            test_button.enable()
        show_diagnosis(report, diagnosis)
        await show_domain_check(report, account, dkim_key_of(get_state().vault, name))
        if name and diagnosis.error is not None and diagnosis.error.phase is Phase.AUTH:
            forget_session_credentials(name)  # refused: ask again next time

    async def test_form() -> None:
        result = form.check()
        if result.account is None:
            ui.notify("Check the marked fields before testing.", type="warning")
            return
        account = result.account
        password, proxy_password = form.secrets(result)
        credentials = Credentials(password=password, proxy_password=proxy_password)
        missing_password = needs_password(account) and not password
        missing_proxy = needs_proxy_password(account) and not proxy_password
        if missing_password or missing_proxy:
            asked: Credentials | None
            if form.editing is not None and _same_login(form.editing, account):
                asked = await ask_credentials(form.editing)
            else:
                asked = await ask_secrets_dialog(
                    "Password for the test",
                    account,
                    ask_password=missing_password,
                    ask_proxy=missing_proxy,
                )
            if asked is None:
                return
            credentials = Credentials(
                password=password or asked.password,
                oauth_token=asked.oauth_token,
                proxy_password=proxy_password or asked.proxy_password,
            )
        await run_check(account, credentials, None)

    async def test_saved(name: str) -> None:
        credentials = await ask_credentials(name)
        if credentials is None:
            return
        try:
            account = state.accounts.get(name).account
        except StorageError as exc:
            ui.notify(str(exc), type="negative")
            return
        await run_check(account, credentials, name)

    save_button.on_click(save)
    test_button.on_click(test_form)
    refresh_list()


def _same_login(name: str, account: Account) -> bool:
    """Whether the form still logs in as the saved account does (so its password applies)."""
    try:
        saved = get_state().accounts.get(name).account
    except StorageError:
        return False
    return (saved.host, saved.username, saved.proxy) == (
        account.host,
        account.username,
        account.proxy,
    )


def _sandbox_line() -> str:
    server = sandbox.current()
    if server is None or not server.running:
        return "Not running right now."
    return f"{sandbox.SANDBOX_HOST}:{server.port} · no login · keeps messages in the Outbox"


def _settings_warnings() -> list[str]:
    try:
        return list(get_state().settings.warnings)
    except StorageError as exc:
        return [str(exc)]
