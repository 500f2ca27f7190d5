"""Sign in with Google or Microsoft on the Accounts screen (the GUI's side of OAuth).

The redirect comes back to a one-shot listener of its own on 127.0.0.1 (not the app's port:
a native window has no launch cookie). The system browser is opened, and the address is
also shown, to open by hand. Only the refresh token is kept, encrypted in the vault.
"""

from __future__ import annotations

import asyncio
import webbrowser
from collections.abc import Callable

from nicegui import events, ui

from core.account_check import with_sign_in
from core.classify import SIGN_IN_EXPIRED
from core.errors import InputError, MailerError
from core.models import (
    GMAIL_API_ROOT,
    Account,
    OAuthProvider,
    OAuthSettings,
    Secret,
    TransportKind,
)
from core.oauth import (
    ClientSecrets,
    google_settings,
    microsoft_settings,
    sign_in_browser,
)
from core.oauth.account import account_for_sign_in
from core.oauth.endpoints import check_endpoint, parse_client_secrets
from core.oauth.tokens import OAuthFlowError
from storage.errors import StorageError, WrongPassphraseError
from storage.oauth_tokens import SignIns
from storage.settings import SavedAccount, validate_account_name
from ui.services.state import get_state
from ui.web.credentials import unlock_vault

__all__ = [
    "SignInCard",
    "describe_sign_in",
    "keep_sign_in",
    "sign_in_again_button",
    "sign_out",
    "sign_out_button",
    "stopped_for_sign_in",
]

_MAX_SECRETS_BYTES = 64 * 1024
_TENANTS = ["common", "consumers", "organizations"]  # or a tenant's own ID or domain


async def sign_out(name: str) -> bool:
    """Forget the account's refresh token (and its access token in memory)."""
    get_state().sign_in_providers.pop(name, None)
    try:
        return await asyncio.to_thread(SignIns(get_state().vault).forget, name)
    except StorageError as exc:
        ui.notify(f"Not signed out: {exc}", type="negative")
        return False


class SignInCard:
    """ "Sign in with Google" / "Sign in with Microsoft": a name, the provider's client, go."""

    def __init__(self, on_signed_in: Callable[[str], None]) -> None:
        self.on_signed_in = on_signed_in
        self.secrets: ClientSecrets | None = None
        self.busy = False
        with ui.card().classes("w-full").mark("signin-card"):
            ui.label("Sign in with Google or Microsoft").classes("text-h6")
            ui.label(
                "No password needed: sign in in your browser with your own OAuth client "
                "(see the README for the few steps to create one)."
            ).classes("text-caption text-grey-8")
            self.name = ui.input("Account name").classes("w-full").mark("signin-name")
            self.name.props("data-testid=signin-name")
            with ui.tabs().classes("w-full") as tabs:
                google_tab = ui.tab("Google").mark("signin-tab-google")
                microsoft_tab = ui.tab("Microsoft").mark("signin-tab-microsoft")
            with ui.tab_panels(tabs, value=google_tab).classes("w-full"):
                with ui.tab_panel(google_tab):
                    self._google_panel()
                with ui.tab_panel(microsoft_tab):
                    self._microsoft_panel()
            self.link_box = ui.column().classes("w-full gap-1")
            self.result = ui.label("").classes("break-words").mark("signin-result")
            self.result.props("data-testid=signin-result")

    # -- building ---------------------------------------------------------------------------

    def _google_panel(self) -> None:
        ui.upload(
            auto_upload=True,
            max_file_size=_MAX_SECRETS_BYTES,
            on_upload=self._receive_secrets,
            label="client_secret.json of a Desktop app client",
        ).props("accept=.json flat bordered").classes("w-full").mark("signin-google-secrets")
        self.secrets_label = ui.label("No client file yet.").classes("text-caption")
        self.secrets_label.mark("signin-google-client")
        self.transport = (
            ui.radio(
                {TransportKind.SMTP.value: "SMTP", TransportKind.GMAIL_API.value: "Gmail API"},
                value=TransportKind.SMTP.value,
            )
            .props("inline")
            .mark("signin-transport")
        )
        self.api_url = (
            ui.input("Gmail API address", value=GMAIL_API_ROOT)
            .classes("w-full")
            .mark("signin-api-url")
        )
        self.api_url.bind_visibility_from(
            self.transport, "value", value=TransportKind.GMAIL_API.value
        )
        ui.button("Sign in with Google", icon="login", on_click=self.google).mark(
            "signin-google"
        ).props("data-testid=signin-google")

    def _microsoft_panel(self) -> None:
        self.client_id = (
            ui.input("Application (client) ID").classes("w-full").mark("signin-client-id")
        )
        self.tenant = (
            ui.select(
                _TENANTS,
                value="common",
                label="Tenant: common, consumers (Outlook.com), organizations, or your own",
                new_value_mode="add-unique",
            )
            .classes("w-full")
            .mark("signin-tenant")
        )
        self.authority = (
            ui.input("Authority (optional, default login.microsoftonline.com)")
            .classes("w-full")
            .mark("signin-authority")
        )
        ui.button("Sign in with Microsoft", icon="login", on_click=self.microsoft).mark(
            "signin-microsoft"
        )

    # -- actions ----------------------------------------------------------------------------

    async def _receive_secrets(self, event: events.UploadEventArguments) -> None:
        data = await event.file.read()
        try:
            self.secrets = parse_client_secrets(
                data.decode("utf-8-sig"), source="client_secret.json"
            )
        except (InputError, UnicodeDecodeError) as exc:
            self.secrets = None
            self.secrets_label.set_text(f"Not usable: {exc}")
            return
        self.secrets_label.set_text(f"Client {self.secrets.client_id}")

    async def google(self) -> None:
        if self.secrets is None:
            ui.notify("Choose the client_secret.json file first.", type="warning")
            return
        transport = TransportKind(self.transport.value)
        try:
            api_url = check_endpoint(str(self.api_url.value or GMAIL_API_ROOT), what="api")
        except InputError as exc:
            ui.notify(str(exc), type="warning")
            return
        settings = google_settings(self.secrets, transport=transport)
        await self._sign_in(settings, self.secrets.client_secret, transport, api_url)

    async def microsoft(self) -> None:
        try:
            settings = microsoft_settings(
                str(self.client_id.value or ""),
                tenant=str(self.tenant.value or "common"),
                authority=str(self.authority.value or "").strip() or None,
            )
        except InputError as exc:
            ui.notify(str(exc), type="warning")
            return
        await self._sign_in(settings, None, TransportKind.SMTP, GMAIL_API_ROOT)

    def _show_url(self, url: str) -> None:
        self.link_box.clear()
        with self.link_box:
            ui.label("If no browser tab opened, open this address on this computer:")
            ui.link("Open the sign-in page", url, new_tab=True).mark("signin-url").props(
                "data-testid=signin-url"
            )
            ui.label(url).classes("text-caption break-all").mark("signin-url-text")

    async def _sign_in(
        self,
        settings: OAuthSettings,
        client_secret: Secret | None,
        transport: TransportKind,
        api_url: str,
    ) -> None:
        if self.busy:
            return
        try:
            name = validate_account_name(str(self.name.value or ""))
        except InputError as exc:
            self.name.error = str(exc)
            return
        if not await unlock_vault():
            ui.notify("Signing in keeps a token in the vault: it needs the master passphrase.")
            return
        state = get_state()
        self.busy = True
        self.result.set_text("Waiting for the sign-in in your browser…")
        try:
            tokens = await sign_in_browser(
                settings, client_secret, open_browser=webbrowser.open, on_url=self._show_url
            )
            try:
                base = state.accounts.get(name).account
            except StorageError:
                base = None
            email = tokens.email
            if not email or tokens.refresh_token is None:
                raise OAuthFlowError("the provider did not say which address signed in")
            account = account_for_sign_in(
                settings, email, base=base, transport=transport, api_url=api_url
            )
            await asyncio.to_thread(
                SignIns(state.vault).save, name, tokens.refresh_token, client_secret
            )
            await asyncio.to_thread(state.accounts.save, name, account, remember_password=True)
        except WrongPassphraseError:
            state.passphrase.clear()
            self.result.set_text("The master passphrase is wrong: nothing was saved.")
            return
        except (OAuthFlowError, MailerError, StorageError) as exc:
            self.result.set_text(f"Sign-in failed: {exc}")
            return
        finally:
            self.busy = False
        get_state().sign_in_providers.pop(name, None)
        self.link_box.clear()
        provider = "Google" if settings.provider is OAuthProvider.GOOGLE else "Microsoft"
        self.result.set_text(f"Signed in with {provider} as {email}; saved as {name}.")
        self.on_signed_in(name)


def describe_sign_in(saved: SavedAccount) -> str:
    """ " · signed in as X (Gmail API)" for a signed-in account's row, else ""."""
    account = saved.account
    if account.oauth is None:
        return ""
    via = "Gmail API" if account.transport is TransportKind.GMAIL_API else "SMTP"
    return f" · signed in with {account.oauth.provider.value} as {account.username} ({via})"


def sign_out_button(saved: SavedAccount, mark: str, after: Callable[[], None]) -> None:
    """The "Sign out" button of a signed-in account's row."""
    if saved.account.oauth is None:
        return

    async def click() -> None:
        if await sign_out(saved.name):
            ui.notify(f"Signed out of {saved.name}: its token was deleted.")
        else:
            ui.notify(f"{saved.name} was not signed in.")
        after()

    ui.button("Sign out", on_click=click).props("flat dense").mark(f"account-signout-{mark}")


def keep_sign_in(name: str | None, account: Account) -> Account:
    """An edited account keeps the sign-in of the saved one (`core.account_check.with_sign_in`)."""
    if name is None:
        return account
    try:
        saved = get_state().accounts.get(name).account
    except StorageError:
        return account
    return with_sign_in(account, saved)


def sign_in_again_button() -> ui.button:
    """A "Sign in again" button for where a campaign stopped; hidden until `show_if` says so."""
    button = ui.button("Sign in again", icon="login", on_click=lambda: ui.navigate.to("/accounts"))
    button.props("outline").mark("send-sign-in")
    button.set_visibility(False)
    return button


def stopped_for_sign_in(reason: str) -> bool:
    """Whether a campaign stopped because its sign-in expired or was revoked."""
    return reason.startswith(SIGN_IN_EXPIRED)
