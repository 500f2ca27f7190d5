"""`python -m bench.oauth`: sign-in, refresh and Gmail API send costs on loopback.

Runs the local OAuth and Gmail API test servers in this process (so their CPU counts too)
and prints a Markdown table: a browser sign-in round trip (authorize, redirect to the
loopback listener, code exchange), one refresh grant, and sequential `messages.send`
uploads through `GmailAPITransport`, with and without a token refresh on every request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from core.models import Account, AuthMethod, TransportKind
from core.oauth import OAuthCredentials, google_settings, load_client_secrets, sign_in_browser
from core.transport import GmailAPITransport
from tests.gmail_api_server import start_gmail_api_server
from tests.oauth_kit import Browser
from tests.oauth_server import OAuthServer, start_oauth_server

__all__ = ["main"]

_MESSAGE = b"From: alice@example.com\r\nTo: bob@example.net\r\nSubject: bench\r\n\r\n" + b"x" * 2000


async def _run(n: int, rounds: int) -> list[tuple[str, str]]:
    oauth = await start_oauth_server(OAuthServer())
    api = await start_gmail_api_server(oauth)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = oauth.client_secrets_file(Path(folder) / "client_secret.json")
        secrets = load_client_secrets(path)
    settings = google_settings(secrets, transport=TransportKind.GMAIL_API)
    sign_ins = []
    for _ in range(rounds):
        began = time.perf_counter()
        tokens = await sign_in_browser(settings, secrets.client_secret, open_browser=Browser())
        sign_ins.append(time.perf_counter() - began)
    rows.append(
        ("browser sign-in round trip (median)", f"{statistics.median(sign_ins) * 1e3:.1f} ms")
    )
    assert tokens.refresh_token is not None
    provider = OAuthCredentials(settings, tokens.refresh_token, client_secret=secrets.client_secret)
    refreshes = []
    for _ in range(rounds):
        began = time.perf_counter()
        await provider.refresh()
        refreshes.append(time.perf_counter() - began)
    rows.append(("refresh grant (median)", f"{statistics.median(refreshes) * 1e3:.1f} ms"))
    account = Account(
        host="smtp.gmail.com",
        port=587,
        sender="alice@example.com",
        username="alice@example.com",
        auth=AuthMethod.XOAUTH2,
        transport=TransportKind.GMAIL_API,
        oauth=settings,
        api_url=api.url,
    )
    transport = GmailAPITransport(account, provider)
    await transport.connect()
    began = time.perf_counter()
    for _ in range(n):
        await transport.send("alice@example.com", "bob@example.net", _MESSAGE)
    elapsed = time.perf_counter() - began
    rows.append((f"Gmail API sends, {n} x 2 KB, one connection", f"{n / elapsed:,.0f} msgs/s"))
    oauth.access_lifetime = 1  # tokens living 1 s: refreshed when a quarter of that is left
    await provider.refresh()
    before = provider.refreshes
    began = time.perf_counter()
    for _ in range(n):
        await transport.send("alice@example.com", "bob@example.net", _MESSAGE)
    elapsed = time.perf_counter() - began
    rows.append(
        (
            f"... with 1-second tokens ({provider.refreshes - before} refreshes on the way)",
            f"{n / elapsed:,.0f} msgs/s, {api.unauthorized} refused",
        )
    )
    await transport.close()
    assert api.handle is not None and oauth.handle is not None
    await api.handle.close()
    await oauth.handle.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.oauth", description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="messages to send (default 1000)")
    parser.add_argument("--rounds", type=int, default=20, help="sign-ins and refreshes (20)")
    args = parser.parse_args(argv)
    rows = asyncio.run(_run(args.n, args.rounds))
    print("| What (loopback, servers in-process) | Result |\n|---|---|")
    for what, result in rows:
        print(f"| {what} | {result} |")


if __name__ == "__main__":
    main()
