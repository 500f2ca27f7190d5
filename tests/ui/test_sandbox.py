"""The sandbox SMTP server and the Outbox store it writes to."""

from __future__ import annotations

import asyncio
import smtplib
import stat
from pathlib import Path

import pytest

from core.models import AuthMethod, Security
from storage.outbox import OutboxStore
from tests.ui.mail import make_message
from ui.services import sandbox
from ui.services.sandbox import SANDBOX_ACCOUNT_NAME, SandboxServer


def _send(port: int, *, to: tuple[str, ...] = ("bob@example.com",), subject: str = "Hi") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(make_message(subject), from_addr="alice@example.com", to_addrs=to)


async def test_captures_each_message_with_its_envelope(data_home: Path) -> None:
    server = SandboxServer()
    port = await server.start()
    try:
        await asyncio.to_thread(_send, port, to=("bob@example.com", "carol@example.com"))
        entries = server.store.entries()
    finally:
        await server.stop()
    assert len(entries) == 1
    entry = entries[0]
    assert entry.mail_from == "alice@example.com"
    assert entry.rcpt_tos == ("bob@example.com", "carol@example.com")
    assert entry.subject == "Hi"
    raw = server.store.read(entry.id)
    assert b"Subject: Hi" in raw
    assert (data_home / "outbox" / f"{entry.id}.eml").is_file()


async def test_offers_neither_tls_nor_auth(data_home: Path) -> None:
    server = SandboxServer()
    port = await server.start()

    def features() -> dict[str, str]:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo()
            return dict(client.esmtp_features)

    try:
        offered = await asyncio.to_thread(features)
    finally:
        await server.stop()
    assert "starttls" not in offered
    assert "auth" not in offered


async def test_listens_on_loopback_only_and_stops(data_home: Path) -> None:
    server = SandboxServer()
    port = await server.start()
    assert server.running
    assert server._server is not None
    assert {sock.getsockname()[0] for sock in server._server.sockets} == {"127.0.0.1"}
    await server.stop()
    await server.stop()  # idempotent
    assert not server.running
    with pytest.raises(RuntimeError):
        _ = server.port
    with pytest.raises(ConnectionRefusedError):
        await asyncio.to_thread(_send, port)


async def test_sandbox_account_points_at_the_running_server(data_home: Path) -> None:
    with pytest.raises(RuntimeError):
        sandbox.sandbox_account()
    server = await sandbox.start()
    try:
        account = sandbox.sandbox_account()
        assert sandbox.current() is server
        assert (account.host, account.port) == ("127.0.0.1", server.port)
        assert account.security is Security.NONE
        assert account.auth is AuthMethod.NONE
        assert account.sender == "you@sandbox.local"
        assert account.preset == "sandbox"
        assert "nothing leaves this computer" in SANDBOX_ACCOUNT_NAME
    finally:
        await sandbox.stop()
    assert sandbox.current() is None


# --- the store -------------------------------------------------------------------------------


def test_store_files_are_private(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    entry = store.add(b"Subject: x\r\n\r\nbody", mail_from="a@x", rcpt_tos=["b@x"])
    folder = tmp_path / "outbox"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / f"{entry.id}.eml").stat().st_mode) == 0o600
    assert not [p for p in folder.iterdir() if p.suffix != ".eml"]  # no temp files left


def test_store_lists_newest_first_and_keeps_at_most_the_cap(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path, max_messages=3)
    ids = [
        store.add(f"Subject: {n}\r\n\r\n".encode(), mail_from="a@x", rcpt_tos=["b@x"]).id
        for n in range(5)
    ]
    entries = store.entries()
    assert [e.id for e in entries] == ids[:1:-1]  # the 3 newest, newest first
    assert [e.subject for e in entries] == ["4", "3", "2"]
    assert store.count() == 3
    with pytest.raises(KeyError):
        store.read(ids[0])


def test_store_clear_and_delete(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path)
    first = store.add(b"\r\n", mail_from="", rcpt_tos=[])
    store.add(b"\r\n", mail_from="", rcpt_tos=[])
    assert store.delete(first.id) is True
    assert store.delete(first.id) is False
    assert store.clear() == 1
    assert store.entries() == []


@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "x", "", "1" * 19 + "-zz", "a/b"])
def test_store_rejects_ids_that_are_not_its_own(tmp_path: Path, bad_id: str) -> None:
    store = OutboxStore(tmp_path)
    with pytest.raises(KeyError):
        store.read(bad_id)


def test_envelope_cannot_inject_headers(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path)
    entry = store.add(
        b"Subject: real\r\n\r\nbody",
        mail_from="a@x\r\nSubject: injected",
        rcpt_tos=["b@x\nBcc: c@x"],
    )
    lines = store.read(entry.id).splitlines()
    assert [line for line in lines if line.startswith(b"Subject:")] == [b"Subject: real"]
    assert not [line for line in lines if line.startswith(b"Bcc:")]
    assert store.entries()[0].subject == "real"


def test_store_defaults_to_the_data_folder(data_home: Path) -> None:
    assert OutboxStore().root == data_home / "outbox"
