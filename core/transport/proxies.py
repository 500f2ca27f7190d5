"""Which proxy a connection uses and why: the account's own, or the environment's (ALL_PROXY)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.models import Account, Credentials, Proxy, Secret

__all__ = [
    "ALL_PROXY_VARS",
    "HTTPS_PROXY_VARS",
    "NO_PROXY_VARS",
    "ProxyChoice",
    "choose_proxy",
    "environment_proxy",
    "https_proxy_url",
    "is_loopback",
]

# Lower case first, as curl reads them; each list is tried in order.
ALL_PROXY_VARS = ("all_proxy", "ALL_PROXY")
HTTPS_PROXY_VARS = ("https_proxy", "HTTPS_PROXY")
NO_PROXY_VARS = ("no_proxy", "NO_PROXY")

SOURCE_ACCOUNT = "the account's settings"


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    """The proxy a connection goes through, its password, and where the setting came from."""

    proxy: Proxy
    password: Secret | None
    source: str  # "the account's settings" or "environment variable ALL_PROXY"

    def describe(self) -> str:
        """`socks5://host:1080 (from environment variable ALL_PROXY)`: no password in it."""
        return f"{self.proxy.url()} (from {self.source})"


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


def _bypassed(host: str, environ: Mapping[str, str]) -> bool:
    """True when NO_PROXY lists `host` (exactly, as a domain suffix, or `*` for every host)."""
    found = _first(environ, NO_PROXY_VARS)
    if found is None:
        return False
    host = host.lower().strip("[]").rstrip(".")
    for raw in found[1].split(","):
        if raw.strip() == "*":
            return True
        entry = raw.strip().lower().lstrip("*").lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith(f".{entry}")):
            return True
    return False


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address: this computer (the sandbox), never proxied."""
    name = host.lower().strip("[]").rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def environment_proxy(
    host: str, *, environ: Mapping[str, str] | None = None, names: tuple[str, ...] = ALL_PROXY_VARS
) -> ProxyChoice | None:
    """The proxy the environment sets for connections to `host`.

    None when NO_PROXY lists the host, or the host is this computer (as Go's net/http does:
    the local sandbox is never reached through a proxy). Raises `ValueError` naming the
    variable when its value is not a proxy URL we can use.
    """
    env = os.environ if environ is None else environ
    found = _first(env, names)
    if found is None or is_loopback(host) or _bypassed(host, env):
        return None
    name, url = found
    if "://" not in url:
        url = f"http://{url}"  # curl's reading of a bare host:port
    try:
        proxy, password = Proxy.from_url(url)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}: {exc}") from None
    return ProxyChoice(proxy, password, f"environment variable {name}")


def choose_proxy(
    account: Account,
    credentials: Credentials | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> ProxyChoice | None:
    """The proxy for an SMTP connection: the account's if it has one, else ALL_PROXY's."""
    if account.proxy is not None:
        password = credentials.proxy_password if credentials else None
        return ProxyChoice(account.proxy, password, SOURCE_ACCOUNT)
    return environment_proxy(account.host, environ=environ)


def https_proxy_url(url: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy URL (with its password, for the HTTP client) an HTTPS request to `url` uses.

    For the HTTP API transports: HTTPS_PROXY, else ALL_PROXY, unless NO_PROXY lists the host.
    """
    host = urlsplit(url).hostname or url
    env = os.environ if environ is None else environ
    if is_loopback(host) or _bypassed(host, env):
        return None
    found = _first(env, HTTPS_PROXY_VARS) or _first(env, ALL_PROXY_VARS)
    if found is None:
        return None
    value = found[1]
    return value if "://" in value else f"http://{value}"
