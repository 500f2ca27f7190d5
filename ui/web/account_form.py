"""The add/edit account form: preset picker, connection, TLS, proxy, timeouts and secrets."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from core.account_check import account_values
from core.models import (
    SMTP_STARTTLS_PORT,
    SMTP_TLS_PORT,
    Account,
    AuthMethod,
    Secret,
    Security,
)
from core.presets import PRESETS, get_preset
from storage.settings import SavedAccount
from ui.web.account_fields import (
    CUSTOM_PRESET,
    MAX_PORT,
    MAX_TIMEOUT,
    TIMEOUT_FIELDS,
    FormResult,
    build_account,
    preset_limits_text,
)

__all__ = ["AccountForm"]

# What a new account's form shows, by the one validation's field names.
_EMPTY: dict[str, object] = {
    "host": "",
    "port": SMTP_STARTTLS_PORT,
    "security": Security.STARTTLS.value,
    "auth": AuthMethod.AUTO.value,
    "username": "",
    "sender": "",
    "sender_name": "",
    "verify": True,
    "ca_file": "",
    "server_name": "",
    "proxy_url": "",
    **{key: default for key, _label, default in TIMEOUT_FIELDS},
}

_SECURITY_LABELS = {
    Security.STARTTLS.value: "STARTTLS (port 587)",
    Security.TLS.value: "TLS from the start (port 465)",
    Security.NONE.value: "None: no encryption",
}
_AUTH_LABELS = {
    AuthMethod.AUTO.value: "Automatic (PLAIN or LOGIN)",
    AuthMethod.PLAIN.value: "PLAIN",
    AuthMethod.LOGIN.value: "LOGIN",
    AuthMethod.XOAUTH2.value: "XOAUTH2 (OAuth access token)",
    AuthMethod.NONE.value: "No login",
}


class AccountForm:
    """The inputs of one account; `values()` feeds `build_account`."""

    def __init__(self) -> None:
        self.base: Account | None = None
        self.editing: str | None = None  # the saved name being edited, None for a new account
        self._loading = False
        self.title = ui.label("New account").classes("text-h6").mark("account-form-title")
        self.preset = (
            ui.select(
                {preset.key: preset.name for preset in PRESETS},
                label="Provider",
                value=CUSTOM_PRESET,
                on_change=lambda e: self._preset_changed(e.value),
            )
            .classes("w-full")
            .mark("account-preset")
        )
        self.preset_notes = ui.label("").classes("text-grey-8").mark("account-preset-notes")
        self.preset_limits = ui.label("").classes("text-grey-8").mark("account-preset-limits")
        self.name = ui.input("Account name", placeholder="e.g. Work Gmail").classes("w-full")
        self.name.mark("account-name")
        with ui.row().classes("w-full no-wrap"):
            self.host = ui.input("SMTP host").classes("col-grow").mark("account-host")
            self.port = (
                ui.number(
                    "Port",
                    value=SMTP_STARTTLS_PORT,
                    min=1,
                    max=MAX_PORT,
                    precision=0,
                    on_change=lambda e: self._port_changed(e.value),
                )
                .classes("w-28")
                .mark("account-port")
            )
        self.security = (
            ui.select(
                _SECURITY_LABELS,
                label="Security",
                value=Security.STARTTLS.value,
                on_change=lambda e: self._security_changed(e.value),
            )
            .classes("w-full")
            .mark("account-security")
        )
        self.port_hint = ui.label("").classes("text-caption text-grey-7").mark("account-port-hint")
        self.plaintext_warning = (
            ui.label(
                "Warning: with no encryption, your password and every message travel in clear "
                "text and anyone on the network path can read them. Use it only for a server on "
                "this computer or a network you trust."
            )
            .classes("text-negative text-weight-medium")
            .mark("account-plaintext-warning")
        )
        self.plaintext_warning.set_visibility(False)
        self.username = ui.input("User name (login)").classes("w-full").mark("account-username")
        self.password = ui.input("Password", password=True, password_toggle_button=True).classes(
            "w-full"
        )
        self.password.props("autocomplete=new-password").mark("account-password")
        self.remember = ui.checkbox("Remember password (encrypted on this computer)")
        self.remember.mark("account-remember")
        self.remember_hint = ui.label("").classes("text-caption text-grey-7")
        self.remember_hint.mark("account-remember-hint")
        self.remember.on_value_change(lambda _: self._remember_changed())
        with ui.row().classes("w-full no-wrap"):
            self.sender = ui.input("Sender address (From)").classes("col-grow")
            self.sender.mark("account-sender")
            self.sender_name = ui.input("Display name").classes("col-grow")
            self.sender_name.mark("account-sender-name")
        with ui.expansion("Certificate, proxy, login method and timeouts").classes("w-full"):
            self.verify = ui.checkbox("Verify the server's certificate", value=True)
            self.verify.mark("account-verify")
            self.verify_warning = (
                ui.label(
                    "Danger: without certificate checks anyone between you and the server can "
                    "pretend to be it and read your password. For a self-signed or company "
                    "server, keep verification on and give its CA certificate file below instead."
                )
                .classes("text-negative text-weight-medium")
                .mark("account-verify-warning")
            )
            self.verify_warning.set_visibility(False)
            self.verify.on_value_change(lambda e: self.verify_warning.set_visibility(not e.value))
            self.verify.on_value_change(lambda e: self.verify_warning.set_visibility(not e.value))
            self.ca_file = ui.textarea(
                "CA certificates: PEM files or folders, one per line (optional)"
            ).props("autogrow")
            self.ca_file.classes("w-full").mark("account-ca-file")
            self.server_name = ui.input("TLS server name (if not the host, optional)")
            self.server_name.classes("w-full").mark("account-server-name")
            self.auth = ui.select(_AUTH_LABELS, label="Login method", value="auto")
            self.auth.classes("w-full").mark("account-auth")
            self.proxy_url = (
                ui.input(
                    "Proxy URL (optional; empty: ALL_PROXY from the environment, if set)",
                    placeholder="socks5://user@host:1080, socks4://host:1080 or http://host:3128",
                )
                .classes("w-full")
                .mark("account-proxy")
            )
            self.proxy_password = (
                ui.input("Proxy password", password=True, password_toggle_button=True)
                .classes("w-full")
                .mark("account-proxy-password")
            )
            with ui.row().classes("w-full no-wrap"):
                self.timeouts = {
                    key: ui.number(label, value=default, min=1, max=MAX_TIMEOUT)
                    .classes("col-grow")
                    .mark(f"account-{key.replace('_', '-')}")
                    for key, label, default in TIMEOUT_FIELDS
                }
        self._inputs: dict[str, Any] = {
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "sender": self.sender,
            "sender_name": self.sender_name,
            "ca_file": self.ca_file,
            "server_name": self.server_name,
            "proxy_url": self.proxy_url,
            **self.timeouts,
        }
        self.load(None)

    # -- reactions -------------------------------------------------------------------------

    def _preset_changed(self, key: str | None) -> None:
        try:
            preset = get_preset(key or CUSTOM_PRESET)
        except KeyError:
            return
        self.preset_notes.text = preset.auth_notes
        self.preset_limits.text = preset_limits_text(preset)
        if self._loading:
            return
        if preset.host or key == CUSTOM_PRESET:
            self.host.value = preset.host
        self._loading = True  # the preset's security wins over the port's suggestion
        try:
            self.port.value = preset.port
        finally:
            self._loading = False
        self.security.value = preset.security.value
        self.auth.value = preset.auth.value
        self.port_hint.text = ""

    def _port_changed(self, port: float | None) -> None:
        if self._loading or port is None:
            return
        suggested = {SMTP_TLS_PORT: Security.TLS, SMTP_STARTTLS_PORT: Security.STARTTLS}.get(
            int(port)
        )
        if suggested is not None and self.security.value != suggested.value:
            self.security.value = suggested.value
            self.port_hint.text = f"Port {int(port)} usually means {_SECURITY_LABELS[suggested]}."

    def _security_changed(self, value: str | None) -> None:
        self.plaintext_warning.set_visibility(value == Security.NONE.value)

    def _remember_changed(self) -> None:
        if self.editing and not self.remember.value:
            self.remember_hint.text = "Saving will delete the password stored for this account."
        elif self.remember.value:
            self.remember_hint.text = (
                "Stored encrypted with a key from your master passphrase (asked when you save)."
            )
        else:
            self.remember_hint.text = "The password is kept in memory until the app closes."

    # -- loading and reading ---------------------------------------------------------------

    def _fields(self) -> dict[str, Any]:
        """The inputs that hold an account's values, by the one validation's field names."""
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "auth": self.auth,
            "username": self.username,
            "sender": self.sender,
            "sender_name": self.sender_name,
            "verify": self.verify,
            "ca_file": self.ca_file,
            "server_name": self.server_name,
            "proxy_url": self.proxy_url,
            **self.timeouts,
        }

    def values(self) -> dict[str, Any]:
        """Every non-secret value, as `build_account` takes them."""
        fields = {key: element.value for key, element in self._fields().items()}
        return {"name": self.name.value, "preset": self.preset.value, **fields}

    def check(self) -> FormResult:
        """Build the account and mark every bad field with its message."""
        result = build_account(self.values(), base=self.base)
        for key, element in self._inputs.items():
            element.error = result.errors.get(key)
        return result

    def secrets(self, result: FormResult) -> tuple[Secret | None, Secret | None]:
        """(password, proxy password) typed in the form; the URL's password if none typed."""
        password = Secret(self.password.value) if self.password.value else None
        proxy = Secret(self.proxy_password.value) if self.proxy_password.value else None
        return password, proxy or result.proxy_password

    def clear_secrets(self) -> None:
        self.password.value = ""
        self.proxy_password.value = ""

    def load(self, saved: SavedAccount | None) -> None:
        """Show a saved account for editing, or an empty form for a new one."""
        self._loading = True
        try:
            self._load(saved)
        finally:
            self._loading = False
        self._remember_changed()

    def _load(self, saved: SavedAccount | None) -> None:
        account = saved.account if saved is not None else None
        self.base = account
        self.editing = saved.name if saved is not None else None
        self.title.text = f"Edit {saved.name}" if saved is not None else "New account"
        self.name.value = saved.name if saved is not None else ""
        if saved is None:
            self.name.props(remove="readonly")
        else:
            self.name.props("readonly")  # to rename: save as a new account, delete this one
        keys = {preset.key for preset in PRESETS}
        preset_key = account.preset if account and account.preset in keys else None
        self.preset.value = preset_key or CUSTOM_PRESET
        self._preset_changed(self.preset.value)
        values = account_values(account) if account else _EMPTY
        for key, element in self._fields().items():
            element.value = values[key]
        self.remember.value = saved.remember_password if saved is not None else False
        self.port_hint.text = ""
        self.clear_secrets()
        for element in self._inputs.values():
            element.error = None
