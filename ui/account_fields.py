"""The account form's values checked and turned into an `Account`, with a message per field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import InputError
from core.models import (
    DEFAULT_COMMAND_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DATA_TIMEOUT,
    Account,
    AuthMethod,
    Proxy,
    Secret,
    Security,
    Timeouts,
    TLSOptions,
)
from core.presets import Preset
from core.recipients import validate_address
from core.recipients.address import find_forbidden
from storage.settings import validate_account_name
from ui.ca_paths import ca_paths_from_text

__all__ = [
    "CUSTOM_PRESET",
    "MAX_PORT",
    "MAX_TIMEOUT",
    "TIMEOUT_FIELDS",
    "FormResult",
    "build_account",
    "preset_limits_text",
]

CUSTOM_PRESET = "custom"
MAX_PORT = 65535
MAX_TIMEOUT = 3600.0  # seconds; more is a typo
_HOST_RE = re.compile(r"^[^\s/@:{}]+$|^\[[0-9A-Fa-f:.]+\]$")  # a name, an IPv4 or a [v6] literal
TIMEOUT_FIELDS = (
    ("connect_timeout", "Connect (s)", DEFAULT_CONNECT_TIMEOUT),
    ("command_timeout", "Each command (s)", DEFAULT_COMMAND_TIMEOUT),
    ("data_timeout", "After the message (s)", DEFAULT_DATA_TIMEOUT),
)


def preset_limits_text(preset: Preset) -> str:
    """The provider's sending limits as a person reads them, unofficial figures marked."""
    if not preset.limits_note:
        return ""
    if preset.limits_official:
        return f"Documented limits: {preset.limits_note}"
    return f"Unofficial limits (reported by users, not documented): {preset.limits_note}"


@dataclass
class FormResult:
    """What the form holds, checked: an account, or the message for each bad field."""

    account: Account | None
    errors: dict[str, str] = field(default_factory=dict)
    proxy_password: Secret | None = None  # a password written inside the proxy URL


def _text(values: dict[str, Any], key: str) -> str:
    value = values.get(key)
    return str(value).strip() if value is not None else ""


def _check_printable(errors: dict[str, str], key: str, value: str, what: str) -> None:
    if find_forbidden(value) is not None:
        errors[key] = f"The {what} must not contain control characters."


def _number(errors: dict[str, str], key: str, raw: object, *, default: float) -> float:
    if raw in (None, ""):
        return default
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        errors[key] = "Enter a number of seconds."
        return default
    if not 0 < value <= MAX_TIMEOUT:
        errors[key] = f"Use more than 0 and at most {MAX_TIMEOUT:.0f} seconds."
    return value


def _port(raw: object) -> int | None:
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not number.is_integer() or not 1 <= number <= MAX_PORT:
        return None
    return int(number)


def build_account(values: dict[str, Any], *, base: Account | None = None) -> FormResult:
    """Check the form's values and build the account; `base` keeps fields the form lacks."""
    errors: dict[str, str] = {}
    try:
        validate_account_name(_text(values, "name"))
    except InputError as exc:
        errors["name"] = exc.message[0].upper() + exc.message[1:] + "."
    host = _text(values, "host")
    if not host:
        errors["host"] = "Enter the server's host name, e.g. smtp.example.com."
    elif "{region}" in host:
        errors["host"] = "Replace {region} with your region, e.g. us-east-1."
    elif "://" in host:
        errors["host"] = "Enter only the host name, without smtp:// or https://."
    elif not _HOST_RE.match(host):
        errors["host"] = "A host name has no spaces, slashes, @ or port."
    port = _port(values.get("port"))
    if port is None:
        errors["port"] = f"The port is a whole number from 1 to {MAX_PORT} (usually 587 or 465)."
    security = Security(values.get("security") or Security.STARTTLS.value)
    auth = AuthMethod(values.get("auth") or AuthMethod.AUTO.value)
    username = _text(values, "username")
    _check_printable(errors, "username", username, "user name")
    sender = _text(values, "sender")
    if not sender:
        errors["sender"] = "Enter the sender address, e.g. you@example.com."
    else:
        try:
            sender, _ = validate_address(sender)
        except InputError as exc:
            errors["sender"] = f"Not a valid email address: {exc.message}"
    sender_name = _text(values, "sender_name")
    _check_printable(errors, "sender_name", sender_name, "display name")
    ca_paths, ca_error = ca_paths_from_text(str(values.get("ca_file") or ""))
    if ca_error:
        errors["ca_file"] = ca_error
    server_name = _text(values, "server_name")
    if server_name and not _HOST_RE.match(server_name):
        errors["server_name"] = "A server name has no spaces, slashes or @."
    proxy: Proxy | None = None
    proxy_password: Secret | None = None
    proxy_url = _text(values, "proxy_url")
    if proxy_url:
        try:
            proxy, proxy_password = Proxy.from_url(proxy_url)
        except ValueError:
            errors["proxy_url"] = (
                "Use socks5://[user@]host:port, socks4://host:port or http://[user@]host:port."
            )
    timeouts = Timeouts(
        *(
            _number(errors, key, values.get(key), default=default)
            for key, _label, default in TIMEOUT_FIELDS
        )
    )
    if errors:
        return FormResult(None, errors)
    preset = _text(values, "preset") or None
    account = Account(
        host=host,
        port=port or 0,
        sender=sender,
        security=security,
        username=username or None,
        sender_name=sender_name,
        auth=auth,
        tls=TLSOptions.with_ca_paths(
            ca_paths, verify=bool(values.get("verify", True)), server_name=server_name or None
        ),
        proxy=proxy,
        timeouts=timeouts,
        preset=None if preset == CUSTOM_PRESET else preset,
        local_hostname=base.local_hostname if base is not None else None,
    )
    return FormResult(account, {}, proxy_password)
