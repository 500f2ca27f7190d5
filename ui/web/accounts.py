"""The Accounts screen: saved accounts and the sandbox, the one the draft uses, add/edit/test."""

from __future__ import annotations

import asyncio

from nicegui import ui

from core.credentials import CredentialProvider
from core.diagnose import diagnose
from core.errors import InputError, Phase
from core.models import Account, Credentials
from storage.errors import StorageError, WrongPassphraseError
from storage.settings import SavedAccount
from ui.services import sandbox
from ui.services.deliverability import dkim_key_of
from ui.services.state import SANDBOX_KEY, get_state
from ui.web.account_form import AccountForm
from ui.web.credentials import (
    ask_credentials,
    resolve_credentials,
    unlock_vault,
    web_resolver,
)
from ui.web.deliverability_view import show_domain_check
from ui.web.diagnosis_report import ReportButton
from ui.web.home import connection_test
from ui.web.layout import screen_title
from ui.web.signin import SignInCard, describe_sign_in, keep_sign_in, sign_out_button
from ui.web.widgets import show_diagnosis, slug

__all__ = ["AccountsScreen", "page", "use_account"]


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


class AccountsScreen:
    """Everything on /accounts: the saved accounts, the form, and the connection test."""

    def __init__(self) -> None:
        self.state = get_state()
        self.state.restore_draft_account()
        self.form: AccountForm
        screen_title("Accounts")
        ui.label(
            "The SMTP account your messages go out through. Until you add one, the built-in "
            "sandbox keeps every message on this computer (see the Outbox)."
        ).classes("text-grey-8")
        for warning in _settings_warnings():
            ui.label(warning).classes("text-warning").mark("accounts-warning")
        with ui.element("div").classes("w-full grid grid-cols-1 lg:grid-cols-3 gap-4 q-mt-md"):
            with ui.card().classes("self-start"):
                ui.label("Your accounts").classes("text-h6")
                self.account_list()
                ui.button(
                    "Add an account", icon="add", on_click=lambda: self.form.load(None)
                ).props("outline").mark("account-new")
            with ui.column().classes("lg:col-span-2 gap-4"):
                with ui.card().classes("w-full"):
                    self.form = AccountForm()
                    with ui.row().classes("q-mt-sm"):
                        ui.button("Save", icon="save", on_click=self.save).mark("account-save")
                        self.test_button = ui.button(
                            "Test connection", icon="network_check", on_click=self.test_form
                        )
                        self.test_button.props("outline").mark("account-test")
                        self.report_button = ReportButton()
                with ui.card().classes("w-full") as self.report_card:
                    ui.label("Connection test").classes("text-h6")
                    self.report = ui.column().classes("w-full gap-1").mark("diagnosis")
                self.report_card.set_visibility(False)
                SignInCard(on_signed_in=lambda _name: self._refresh_list())

    # -- the list -------------------------------------------------------------------------------

    @ui.refreshable_method
    def account_list(self) -> None:
        try:
            saved = self.state.accounts.accounts()
        except StorageError as exc:
            saved = []
            ui.notify(f"The saved accounts cannot be read: {exc}", type="negative")
        chosen = self.state.draft.account_name
        if chosen != SANDBOX_KEY and chosen not in {item.name for item in saved}:
            use_account(SANDBOX_KEY)
            chosen = SANDBOX_KEY
        with ui.column().classes("w-full gap-2").mark("account-list"):
            self._row(SANDBOX_KEY, sandbox.SANDBOX_ACCOUNT_NAME, _sandbox_line(), chosen)
            for item in saved:
                line = _describe(item.account)
                if item.remember_password and self.state.accounts.has_password(item.name):
                    line += " · password saved"
                line += describe_sign_in(item)
                self._row(item.name, item.name, line, chosen, saved=item)

    def _row(
        self, key: str, title: str, line: str, chosen: str, saved: SavedAccount | None = None
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
                    ui.button("Use", on_click=lambda: self.choose(key)).props("flat dense").mark(
                        f"account-use-{mark}"
                    )
                if saved is not None:
                    self._saved_buttons(saved, mark)

    def _saved_buttons(self, saved: SavedAccount, mark: str) -> None:
        ui.button("Edit", on_click=lambda: self.form.load(saved)).props("flat dense").mark(
            f"account-edit-{mark}"
        )
        ui.button("Test", on_click=lambda: self.test_saved(saved.name)).props("flat dense").mark(
            f"account-test-{mark}"
        )
        ui.button("Delete", on_click=lambda: self.delete(saved)).props(
            "flat dense color=negative"
        ).mark(f"account-delete-{mark}")
        sign_out_button(saved, mark, self._refresh_list)

    def _refresh_list(self) -> None:
        self.account_list.refresh()

    def choose(self, key: str) -> None:
        use_account(key)
        # The toast first: refreshing the list deletes the button whose click runs this.
        ui.notify(f"Messages will go through {key or 'the sandbox'}.")
        self.account_list.refresh()

    async def delete(self, saved: SavedAccount) -> None:
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
            await asyncio.to_thread(self.state.accounts.delete, saved.name)
        except StorageError as exc:
            ui.notify(f"Not deleted: {exc}", type="negative")
            return
        web_resolver().forget(saved.account)
        if self.form.editing == saved.name:
            self.form.load(None)
        self.account_list.refresh()
        ui.notify(f"Deleted {saved.name}.")

    async def save(self) -> None:
        result = self.form.check()
        if result.account is None:
            ui.notify("Check the marked fields.", type="warning")
            return
        name = str(self.form.name.value).strip()
        try:
            taken = {item.name for item in self.state.accounts.accounts()}
        except StorageError as exc:
            ui.notify(f"Not saved: {exc}", type="negative")
            return
        if self.form.editing is None and name in taken:
            self.form.name.error = "An account has this name: choose another, or edit that one."
            return
        password, proxy_password = self.form.secrets(result)
        remember = bool(self.form.remember.value)
        typed = Credentials(proxy_password=proxy_password).with_login_secret(
            result.account, password
        )
        if remember and (password or proxy_password) and not await unlock_vault():
            ui.notify("Not saved: remembering a password needs the master passphrase.")
            return
        account = keep_sign_in(self.form.editing, result.account)
        try:
            saved = await asyncio.to_thread(
                self.state.accounts.save,
                name,
                account,
                remember_password=remember,
                credentials=typed if remember else None,
            )
        except WrongPassphraseError:
            self.state.passphrase.clear()
            ui.notify("The master passphrase is wrong: nothing was saved.", type="negative")
            return
        except (StorageError, InputError) as exc:
            ui.notify(f"Not saved: {exc}", type="negative")
            return
        if password or proxy_password:
            web_resolver().remember(account, typed)
        else:
            web_resolver().forget(account)  # login details may have changed
        self.form.load(saved)
        self.account_list.refresh()
        note = ""
        if remember and account.needs_login and not self.state.accounts.has_password(saved.name):
            note = " No password is stored yet: you will be asked for it when you send."
        ui.notify(f"Saved {saved.name}.{note}", type="positive")

    async def run_check(
        self,
        account: Account,
        credentials: Credentials | CredentialProvider,
        name: str | None = None,
    ) -> None:
        self.report_card.set_visibility(True)
        self.report.clear()
        with self.report:
            ui.spinner()
            ui.label(f"Connecting to {account.host}:{account.port} …").mark("diagnosis-running")
        self.test_button.disable()
        try:
            diagnosis = await diagnose(account, credentials)
        finally:
            self.test_button.enable()
        show_diagnosis(self.report, diagnosis)
        if name is not None:  # the Home screen shows each account's last test
            self.state.connection_tests[name] = connection_test(diagnosis)
        self.report_button.show_for(diagnosis)
        await show_domain_check(self.report, account, dkim_key_of(self.state.vault, name))
        if diagnosis.error is not None and diagnosis.error.phase is Phase.AUTH:
            web_resolver().forget(account)  # refused: ask again next time

    async def test_form(self) -> None:
        result = self.form.check()
        if result.account is None:
            ui.notify("Check the marked fields before testing.", type="warning")
            return
        account = result.account
        password, proxy_password = self.form.secrets(result)
        typed = Credentials(proxy_password=proxy_password).with_login_secret(account, password)
        credentials = await resolve_credentials(
            account, saved_name=self.form.editing, given=typed, title="Password for the test"
        )
        if credentials is None:
            return
        await self.run_check(account, credentials, self.form.editing)

    async def test_saved(self, name: str) -> None:
        credentials = await ask_credentials(name)
        if credentials is None:
            return
        try:
            account = self.state.accounts.get(name).account
        except StorageError as exc:
            ui.notify(str(exc), type="negative")
            return
        await self.run_check(account, credentials, name)


def page() -> None:
    """Build the Accounts screen."""
    AccountsScreen()


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
