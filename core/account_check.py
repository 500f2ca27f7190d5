"""One account validation for every face: field values in, an `Account` or a message per field out.

The web form, the CLI flags and the settings loader all call `check_account`, so a bad port,
host, sender or CA file gets the same clear message everywhere and never a traceback. Field
names are the form's (`host`, `port`, `sender`, ...); `account_values` turns an account back
into them, so a face can start from a saved account or a preset and override a few fields.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from core.errors import InputError, TLSError
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
from core.recipients import validate_address
from core.recipients.address import find_forbidden
from core.transport.tls import load_ca_path

__all__ = [
    "CUSTOM_PRESET",
    "MAX_PORT",
    "MAX_TIMEOUT",
    "TIMEOUT_FIELDS",
    "AccountCheck",
    "account_values",
    "ca_paths_from_text",
    "check_account",
    "with_sign_in",
]

CUSTOM_PRESET = "custom"
MAX_PORT = 65535
MAX_TIMEOUT = 3600.0  # seconds; more is a typo
_HOST_RE = re.compile(r"^[^\s/@:{}]+$|^\[[0-9A-Fa-f:.]+\]$")  # a name, an IPv4 or a [v6] literal
# field -> (label, default seconds)
TIMEOUT_FIELDS = (
    ("connect_timeout", "Connect (s)", DEFAULT_CONNECT_TIMEOUT),
    ("command_timeout", "Each command (s)", DEFAULT_COMMAND_TIMEOUT),
    ("data_timeout", "After the message (s)", DEFAULT_DATA_TIMEOUT),
)


@dataclass
class AccountCheck:
    """The values, checked: an account, or the message for each bad field."""

    account: Account | None
    errors: dict[str, str] = field(default_factory=dict)
    proxy_password: Secret | None = None  # a password written inside the proxy URL

    def first_error(self) -> str:
        """One line naming the first bad field and what to do (for a command line)."""
        key, message = next(iter(self.errors.items()))
        return f"{key.replace('_', ' ')}: {message}"


def account_values(account: Account) -> dict[str, object]:
    """The field values that `check_account` turns back into `account`."""
    return {
        "host": account.host,
        "port": account.port,
        "security": account.security.value,
        "username": account.username or "",
        "sender": account.sender,
        "sender_name": account.sender_name,
        "auth": account.auth.value,
        "verify": account.tls.verify,
        "ca_file": "\n".join(account.tls.ca_paths),
        "server_name": account.tls.server_name or "",
        "proxy_url": account.proxy.url() if account.proxy else "",
        "connect_timeout": account.timeouts.connect,
        "command_timeout": account.timeouts.command,
        "data_timeout": account.timeouts.data,
        "preset": account.preset or CUSTOM_PRESET,
        "local_hostname": account.local_hostname or "",
    }


def _text(values: Mapping[str, object], key: str) -> str:
    value = values.get(key)
    return str(value).strip() if value is not None else ""


def _check_printable(errors: dict[str, str], key: str, value: str, what: str) -> None:
    if find_forbidden(value) is not None:
        errors[key] = f"The {what} must not contain control characters."


def _seconds(errors: dict[str, str], key: str, raw: object, *, default: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        errors[key] = "Enter a number of seconds."
        return default
    if not 0 < value <= MAX_TIMEOUT:
        errors[key] = f"Use more than 0 and at most {MAX_TIMEOUT:.0f} seconds."
    return value


def _port(errors: dict[str, str], raw: object) -> int:
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = 0.5
    if not number.is_integer() or not 1 <= number <= MAX_PORT:
        errors["port"] = f"The port is a whole number from 1 to {MAX_PORT} (usually 587 or 465)."
        return 0
    return int(number)


def _host(errors: dict[str, str], key: str, host: str, *, required: bool) -> None:
    if not host:
        if required:
            errors[key] = "Enter the server's host name, e.g. smtp.example.com."
    elif "{region}" in host:
        errors[key] = "Replace {region} with your region, e.g. us-east-1."
    elif "://" in host:
        errors[key] = "Enter only the host name, without smtp:// or https://."
    elif not _HOST_RE.match(host):
        errors[key] = "A host name has no spaces, slashes, @ or port."


_E = TypeVar("_E", Security, AuthMethod)


def _enum(errors: dict[str, str], key: str, kind: type[_E], raw: object, default: _E) -> _E:
    text = str(raw).strip().lower() if raw not in (None, "") else default.value
    try:
        return kind(text)
    except ValueError:
        errors[key] = f"Choose one of: {', '.join(member.value for member in kind)}."
        return default


def _sender(errors: dict[str, str], sender: str) -> str:
    if not sender:
        errors["sender"] = "Enter the sender address, e.g. you@example.com."
        return sender
    try:
        return validate_address(sender)[0]
    except InputError as exc:
        errors["sender"] = f"Not a valid email address: {exc.message}"
        return sender


def ca_paths_from_text(text: str, *, numbered: bool = True) -> tuple[list[str], str]:
    """(paths, error): CA files or folders, one per line, expanded and each loaded once to
    check it; the error names the first bad one (by its line when `numbered`)."""
    paths: list[str] = []
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        path = str(Path(line).expanduser())
        try:
            load_ca_path(ssl.create_default_context(), path)
        except TLSError as exc:
            where = f"Line {number}: " if numbered else ""
            return [], f"{where}{exc.message}."
        paths.append(path)
    return paths, ""


def _ca_paths(errors: dict[str, str], raw: object) -> list[str]:
    """The CA paths from the form's text (one per line) or the CLI's repeated flag (a list)."""
    if isinstance(raw, (list, tuple)):  # repeated flags, not a form's numbered lines
        paths, error = ca_paths_from_text("\n".join(map(str, raw)), numbered=False)
    else:
        paths, error = ca_paths_from_text(str(raw or ""))
    if error:
        errors["ca_file"] = error
    return paths


def _proxy(errors: dict[str, str], url: str) -> tuple[Proxy | None, Secret | None]:
    if not url:
        return None, None
    try:
        return Proxy.from_url(url)
    except ValueError:
        errors["proxy_url"] = (
            "Use socks5://[user@]host:port, socks4://host:port or http://[user@]host:port."
        )
        return None, None


def check_account(values: Mapping[str, object]) -> AccountCheck:
    """Check the field values (as `account_values` names them) and build the account."""
    errors: dict[str, str] = {}
    host = _text(values, "host")
    _host(errors, "host", host, required=True)
    port = _port(errors, values.get("port"))
    security = _enum(errors, "security", Security, values.get("security"), Security.STARTTLS)
    auth = _enum(errors, "auth", AuthMethod, values.get("auth"), AuthMethod.AUTO)
    username = _text(values, "username")
    _check_printable(errors, "username", username, "user name")
    sender = _sender(errors, _text(values, "sender"))
    sender_name = _text(values, "sender_name")
    _check_printable(errors, "sender_name", sender_name, "display name")
    ca_paths = _ca_paths(errors, values.get("ca_file"))
    server_name = _text(values, "server_name")
    if server_name and not _HOST_RE.match(server_name):
        errors["server_name"] = "A server name has no spaces, slashes or @."
    proxy, proxy_password = _proxy(errors, _text(values, "proxy_url"))
    timeouts = Timeouts(
        *(
            _seconds(errors, key, values.get(key), default=default)
            for key, _label, default in TIMEOUT_FIELDS
        )
    )
    if errors:
        return AccountCheck(None, errors)
    preset = _text(values, "preset") or None
    account = Account(
        host=host,
        port=port,
        sender=sender,
        security=security,
        username=username or None,
        sender_name=sender_name,
        auth=auth,
        tls=TLSOptions.with_ca_paths(
            ca_paths,
            verify=values.get("verify", True) is not False,
            server_name=server_name or None,
        ),
        proxy=proxy,
        timeouts=timeouts,
        preset=None if preset == CUSTOM_PRESET else preset,
        local_hostname=_text(values, "local_hostname") or None,
    )
    return AccountCheck(account, {}, proxy_password)


def with_sign_in(account: Account, base: Account | None) -> Account:
    """An account rebuilt from field values keeps the sign-in of the saved one it came from
    (no form or flag holds OAuth settings) while the login name stays the same; a changed
    login name drops it (sign in again as that one)."""
    if base is None or base.oauth is None:
        return account
    if (base.username or "").lower() != (account.username or "").lower():
        return account
    return replace(
        account,
        auth=AuthMethod.XOAUTH2,
        transport=base.transport,
        oauth=base.oauth,
        api_url=base.api_url,
    )
