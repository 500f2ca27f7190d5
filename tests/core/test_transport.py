"""The connection layer against real in-process SMTP servers: TLS policy, login, faults, proxy."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from dataclasses import replace

import pytest

from core.classify import FailureKind, classify
from core.diagnose import diagnose, verify
from core.errors import (
    AuthError,
    ConnectError,
    DisconnectedError,
    DNSError,
    DowngradeError,
    Phase,
    ProxyError,
    ReplyError,
    TimedOutError,
    TLSError,
)
from core.models import AuthMethod, Credentials, Proxy, Secret, Security, Timeouts, TLSOptions
from core.transport import LoginGuard, SMTPTransport
from tests.certs import CertSet
from tests.conftest import account_for, good_credentials
from tests.smtpd import USER, Recorder, ServerHandle, start_raw_server, start_server
from tests.socks import start_socks_proxy

PAYLOAD = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello\r\n"


async def _send_one(transport: SMTPTransport, rcpt: str = "bob@example.com") -> None:
    await transport.connect()
    await transport.send(USER, rcpt, PAYLOAD)
    await transport.close()


async def test_verify_passes_over_starttls(starttls_server: ServerHandle, certs: CertSet) -> None:
    report = await verify(
        account_for(starttls_server, Security.STARTTLS, certs), good_credentials()
    )
    assert report.ok, report.lines()
    names = [step.name for step in report.steps]
    assert names[:4] == ["greeting", "EHLO", "STARTTLS", "EHLO (after TLS)"]
    assert "AUTH PLAIN" in names
    assert names[-1] == "sender (MAIL FROM)"
    assert report.session is not None and report.session.tls_version
    assert starttls_server.recorder.messages == []  # verify never sends a message
    assert starttls_server.recorder.mail_seen == [USER]


async def test_verify_passes_over_implicit_tls(tls_server: ServerHandle, certs: CertSet) -> None:
    report = await verify(account_for(tls_server, Security.TLS, certs), good_credentials())
    assert report.ok, report.lines()
    assert report.steps[0].name == "TLS + greeting"
    assert tls_server.recorder.auth_attempts == [(USER, "PLAIN", True)]


async def test_verify_passes_on_plain_server_without_login(plain_server: ServerHandle) -> None:
    report = await diagnose(account_for(plain_server, Security.NONE))
    assert report.ok, report.lines()
    assert [s.name for s in report.steps][:2] == ["DNS lookup", "TCP connect"]
    assert report.session is not None and not report.session.encrypted


async def test_send_delivers_one_message_and_reuses_connection(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    transport = SMTPTransport(
        account_for(starttls_server, Security.STARTTLS, certs), good_credentials()
    )
    await transport.connect()
    for n in range(3):
        reply = await transport.send(USER, f"r{n}@example.com", PAYLOAD + b".\r\n.dot\r\n")
        assert reply.code == 250
    await transport.close()
    assert starttls_server.recorder.connections == 1
    assert starttls_server.recorder.recipients() == [f"r{n}@example.com" for n in range(3)]
    body = starttls_server.recorder.parsed()[0].get_content().replace("\r\n", "\n")
    assert body == "Hello\n.\n.dot\n"  # dot-stuffing round-trips: exactly one message each


async def test_starttls_not_offered_is_refused_before_auth(certs: CertSet) -> None:
    handle = await start_server("starttls", certs, offer_starttls=False)
    try:
        transport = SMTPTransport(account_for(handle, Security.STARTTLS, certs), good_credentials())
        with pytest.raises(DowngradeError) as caught:
            await transport.connect()
        assert "possible downgrade" in str(caught.value)
        assert classify(caught.value).kind is FailureKind.CONFIG
        assert handle.recorder.auth_attempts == []
        assert handle.recorder.mail_seen == []
    finally:
        await handle.close()


async def test_auth_never_sent_in_clear_even_if_server_offers_it() -> None:
    """A raw server that advertises AUTH but no STARTTLS: the client must not say AUTH."""

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        writer.write(b"220 evil ESMTP\r\n")
        while line := await reader.readline():
            seen.append(line)
            if line.upper().startswith(b"EHLO"):
                writer.write(b"250-evil\r\n250 AUTH PLAIN LOGIN\r\n")
            elif line.upper().startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")

    raw = await start_raw_server(script)
    try:
        account = account_for(raw, Security.STARTTLS)  # type: ignore[arg-type]
        with pytest.raises(DowngradeError):
            await SMTPTransport(account, good_credentials()).connect()
        assert not any(line.upper().startswith(b"AUTH") for line in raw.received)
    finally:
        await raw.close()


async def test_unknown_ca_is_refused_before_auth(certs: CertSet) -> None:
    handle = await start_server("starttls", certs)
    try:
        account = account_for(handle, Security.STARTTLS, None)  # system trust store only
        with pytest.raises(TLSError) as caught:
            await SMTPTransport(account, good_credentials()).connect()
        assert caught.value.reason == "unknown-ca"
        assert "pin its CA file" in classify(caught.value).hint
        assert handle.recorder.auth_attempts == []
    finally:
        await handle.close()


async def test_other_pinned_ca_is_refused_over_implicit_tls(certs: CertSet) -> None:
    handle = await start_server("tls", certs)
    try:
        account = account_for(
            handle, Security.TLS, certs, tls=TLSOptions(ca_file=str(certs.other_ca_file))
        )
        with pytest.raises(TLSError) as caught:
            await SMTPTransport(account, good_credentials()).connect()
        assert caught.value.reason == "unknown-ca"
        assert handle.recorder.auth_attempts == []
    finally:
        await handle.close()


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_pinned_ca_with_wrong_host_name_is_refused(certs: CertSet, mode: str) -> None:
    handle = await start_server(mode, certs, cert=certs.wrong_host_cert)
    try:
        account = account_for(handle, Security(mode), certs)
        with pytest.raises(TLSError) as caught:
            await SMTPTransport(account, good_credentials()).connect()
        assert caught.value.reason == "hostname"
        assert handle.recorder.auth_attempts == []
    finally:
        await handle.close()


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_tls_server_name_override_checks_the_named_certificate(
    certs: CertSet, mode: str
) -> None:
    handle = await start_server(mode, certs, cert=certs.wrong_host_cert)
    try:
        account = account_for(
            handle,
            Security(mode),
            certs,
            host="127.0.0.1",
            tls=TLSOptions(ca_file=str(certs.ca_file), server_name="other.example"),
        )
        await _send_one(SMTPTransport(account, good_credentials()))
        assert handle.recorder.recipients() == ["bob@example.com"]
    finally:
        await handle.close()


async def test_expired_certificate_is_named(certs: CertSet) -> None:
    handle = await start_server("tls", certs, cert=certs.expired_cert)
    try:
        with pytest.raises(TLSError) as caught:
            await SMTPTransport(account_for(handle, Security.TLS, certs)).connect()
        assert caught.value.reason == "expired"
        assert "expired" in classify(caught.value).hint
    finally:
        await handle.close()


async def test_verify_can_be_turned_off_explicitly(certs: CertSet) -> None:
    handle = await start_server("tls", certs, cert=certs.expired_cert)
    try:
        account = account_for(handle, Security.TLS, None, tls=TLSOptions(verify=False))
        await _send_one(SMTPTransport(account, good_credentials()))
    finally:
        await handle.close()


async def test_wrong_password_is_a_config_error_and_no_mail_is_tried(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    account = account_for(starttls_server, Security.STARTTLS, certs)
    report = await verify(account, Credentials(password=Secret("wrong")))
    assert not report.ok
    failed = report.steps[-1]
    assert failed.name == "AUTH" and not failed.ok
    assert isinstance(report.error, AuthError) and report.error.code == 535
    assert classify(report.error).kind is FailureKind.CONFIG
    assert "password" in failed.hint
    assert starttls_server.recorder.mail_seen == []
    assert len(starttls_server.recorder.auth_attempts) == 1  # one try, no mechanism storm


def _scripted(greeting: bytes | None, *, auth_reply: bytes = b"235 ok", delay: float = 0):
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        if delay:
            await asyncio.sleep(delay)
        if greeting is not None:
            writer.write(greeting)
            await writer.drain()
        if greeting is None or not greeting.startswith(b"220"):
            await reader.read(100)
            return
        while line := await reader.readline():
            seen.append(line)
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"EHLO":
                writer.write(b"250-fake\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == b"AUTH":
                writer.write(auth_reply + b"\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()

    return script


async def test_microsoft_basic_auth_disabled_gets_the_oauth_hint() -> None:
    raw = await start_raw_server(
        _scripted(
            b"220 outlook\r\n",
            auth_reply=b"535 5.7.139 Authentication unsuccessful, basic authentication is "
            b"disabled.",
        )
    )
    try:
        account = account_for(raw, Security.NONE, username=USER)  # type: ignore[arg-type]
        report = await verify(account, good_credentials())
        assert not report.ok
        assert report.error is not None and report.error.enhanced == "5.7.139"
        assert "OAuth" in report.steps[-1].hint
        assert not any(line.startswith(b"MAIL") for line in raw.received)
    finally:
        await raw.close()


@pytest.mark.parametrize(
    ("greeting", "kind"),
    [
        (b"421 4.3.2 Service not available, try later\r\n", FailureKind.TRANSIENT_SESSION),
        (b"554 5.7.1 You are not welcome here\r\n", FailureKind.PERMANENT_SESSION),
    ],
)
async def test_refusing_greeting_is_classified(greeting: bytes, kind: FailureKind) -> None:
    raw = await start_raw_server(_scripted(greeting))
    try:
        account = account_for(raw, Security.NONE)  # type: ignore[arg-type]
        with pytest.raises(ReplyError) as caught:
            await SMTPTransport(account).connect()
        assert caught.value.phase is Phase.GREETING
        assert caught.value.code == int(greeting[:3])
        assert classify(caught.value).kind is kind
    finally:
        await raw.close()


async def test_greeting_slower_than_connect_timeout_times_out_at_the_greeting() -> None:
    raw = await start_raw_server(_scripted(b"220 slow\r\n", delay=5))
    try:
        account = account_for(
            raw,
            Security.NONE,  # type: ignore[arg-type]
            timeouts=Timeouts(connect=0.3),
        )
        with pytest.raises(TimedOutError) as caught:
            await SMTPTransport(account).connect()
        assert caught.value.phase is Phase.GREETING
        assert classify(caught.value).kind is FailureKind.TRANSIENT_SESSION
    finally:
        await raw.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_reported_with_a_hint() -> None:
    port = _closed_port()
    handle = ServerHandle("127.0.0.1", port, Recorder(), None)  # type: ignore[arg-type]
    account = account_for(handle, Security.NONE)
    with pytest.raises(ConnectError) as caught:
        await SMTPTransport(account).connect()
    assert caught.value.refused
    report = await diagnose(account)
    assert [s.name for s in report.steps] == ["DNS lookup", "TCP connect"]
    assert "check the port" in report.steps[-1].hint


async def test_dns_failure_is_reported() -> None:
    handle = ServerHandle("nonexistent.invalid", 587, Recorder(), None)  # type: ignore[arg-type]
    account = account_for(handle, Security.STARTTLS, host="nonexistent.invalid")
    with pytest.raises(DNSError):
        await SMTPTransport(account).connect()
    report = await diagnose(account)
    assert report.steps[0].name == "DNS lookup" and not report.steps[0].ok
    assert "spelling" in report.steps[0].hint


async def test_send_through_socks5_proxy(starttls_server: ServerHandle, certs: CertSet) -> None:
    proxy = await start_socks_proxy(credentials=("proxyuser", "proxypass"))
    try:
        account = account_for(
            starttls_server,
            Security.STARTTLS,
            certs,
            proxy=Proxy.from_url(f"socks5://proxyuser@127.0.0.1:{proxy.port}")[0],
        )
        creds = replace(good_credentials(), proxy_password=Secret("proxypass"))
        report = await diagnose(account, creds)
        assert report.ok, report.lines()
        assert [s.name for s in report.steps][:2] == ["proxy reachable", "proxy tunnel"]
        assert "(from the account's settings)" in report.steps[0].detail
        assert proxy.connects == [("localhost", starttls_server.port)]
        assert proxy.logins == [("proxyuser", "proxypass")]
    finally:
        await proxy.close()


async def test_proxy_that_refuses_is_a_proxy_error(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    proxy = await start_socks_proxy(refuse=True)
    try:
        account = account_for(
            starttls_server, Security.STARTTLS, certs, proxy=Proxy.from_url(proxy.url)[0]
        )
        with pytest.raises(ProxyError):
            await SMTPTransport(account, good_credentials()).connect()
        report = await diagnose(account, good_credentials())
        assert not report.ok and report.steps[-1].name == "proxy tunnel"
        assert "would not connect" in report.steps[-1].hint
        assert starttls_server.recorder.connections == 0
    finally:
        await proxy.close()


async def test_unreachable_proxy_is_a_proxy_error(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    account = account_for(
        starttls_server,
        Security.STARTTLS,
        certs,
        proxy=Proxy.from_url(f"socks5://127.0.0.1:{_closed_port()}")[0],
    )
    with pytest.raises(ProxyError):
        await SMTPTransport(account, good_credentials()).connect()


async def test_reconnects_after_server_drops_idle_connection(certs: CertSet) -> None:
    handle = await start_server("starttls", certs, timeout=0.3)
    try:
        transport = SMTPTransport(account_for(handle, Security.STARTTLS, certs), good_credentials())
        await transport.connect()
        await transport.send(USER, "one@example.com", PAYLOAD)
        for _ in range(50):  # the server's idle timeout closes the connection
            if not transport.connected:
                break
            await asyncio.sleep(0.05)
        assert not transport.connected
        with pytest.raises(DisconnectedError):
            await transport.send(USER, "two@example.com", PAYLOAD)
        await transport.ensure_connected()
        await transport.send(USER, "two@example.com", PAYLOAD)
        await transport.close()
        assert handle.recorder.recipients() == ["one@example.com", "two@example.com"]
        assert handle.recorder.connections == 2
    finally:
        await handle.close()


async def test_rcpt_refusal_keeps_the_connection_for_the_next_recipient(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    starttls_server.recorder.rcpt_replies["gone@example.com"] = ["550 5.1.1 No such user"]
    transport = SMTPTransport(
        account_for(starttls_server, Security.STARTTLS, certs), good_credentials()
    )
    await transport.connect()
    with pytest.raises(ReplyError) as caught:
        await transport.send(USER, "gone@example.com", PAYLOAD)
    assert (caught.value.phase, caught.value.code, caught.value.enhanced) == (
        Phase.RCPT,
        550,
        "5.1.1",
    )
    assert caught.value.recipient == "gone@example.com"
    assert transport.connected
    await transport.send(USER, "ok@example.com", PAYLOAD)
    await transport.close()
    assert starttls_server.recorder.recipients() == ["ok@example.com"]


async def test_rcpt_421_closes_the_session(starttls_server: ServerHandle, certs: CertSet) -> None:
    starttls_server.recorder.rcpt_replies["x@example.com"] = ["421 4.7.0 closing"]
    transport = SMTPTransport(
        account_for(starttls_server, Security.STARTTLS, certs), good_credentials()
    )
    await transport.connect()
    with pytest.raises(ReplyError) as caught:
        await transport.send(USER, "x@example.com", PAYLOAD)
    assert classify(caught.value).kind is FailureKind.TRANSIENT_SESSION
    assert not transport.connected


async def test_lost_reply_after_final_dot_is_ambiguous(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    starttls_server.recorder.drop_after_data.add("maybe@example.com")
    transport = SMTPTransport(
        account_for(starttls_server, Security.STARTTLS, certs), good_credentials()
    )
    await transport.connect()
    started: list[bool] = []
    with pytest.raises(DisconnectedError) as caught:
        await transport.send(
            USER, "maybe@example.com", PAYLOAD, on_data_start=lambda: started.append(True)
        )
    assert started == [True]
    assert caught.value.phase is Phase.MESSAGE
    assert classify(caught.value).kind is FailureKind.AMBIGUOUS
    assert starttls_server.recorder.recipients() == ["maybe@example.com"]


async def test_data_start_hook_is_not_called_when_rcpt_fails(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    starttls_server.recorder.rcpt_replies["busy@example.com"] = ["451 4.3.0 try later"]
    transport = SMTPTransport(
        account_for(starttls_server, Security.STARTTLS, certs), good_credentials()
    )
    await transport.connect()
    started: list[bool] = []
    with pytest.raises(ReplyError) as caught:
        await transport.send(
            USER, "busy@example.com", PAYLOAD, on_data_start=lambda: started.append(True)
        )
    assert started == []
    assert classify(caught.value).kind is FailureKind.TRANSIENT_RECIPIENT
    await transport.close()


async def test_login_guard_limits_logins_per_window() -> None:
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    guard = LoginGuard(limit=2, window=60, clock=lambda: now[0], sleep=fake_sleep)
    await guard.acquire()
    now[0] = 10
    await guard.acquire()
    now[0] = 20
    await guard.acquire()  # the third within 60 s waits for the first to age out
    assert slept == [40]
    now[0] = 200
    await guard.acquire()
    assert slept == [40]


SENTINEL = "Sentinel-Pa55word-7f3a"


async def test_password_never_appears_in_logs_or_errors(
    starttls_server: ServerHandle, certs: CertSet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = account_for(starttls_server, Security.STARTTLS, certs)
    starttls_server.recorder.users[USER] = SENTINEL
    creds = Credentials(password=Secret(SENTINEL))
    await _send_one(SMTPTransport(account, creds))
    report = await verify(account, Credentials(password=Secret(SENTINEL + "-wrong")))
    assert not report.ok
    texts = [str(report.error), repr(report.error), *report.lines(), repr(creds), str(creds)]
    texts += [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    forms = [
        SENTINEL,
        base64.b64encode(SENTINEL.encode()).decode(),
        base64.b64encode(f"\0{USER}\0{SENTINEL}".encode()).decode(),
    ]
    for text in texts:
        for form in forms:
            assert form not in text


async def test_xoauth2_sends_a_bearer_token_over_tls(certs: CertSet) -> None:
    """XOAUTH2 (Gmail, Microsoft 365 OAuth): `user=...^Aauth=Bearer TOKEN^A^A`, base64."""
    seen: list[bytes] = []
    context = certs.server_context()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 oauth ESMTP\r\n")
        while line := await reader.readline():
            seen.append(line)
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"EHLO":
                writer.write(b"250-oauth\r\n250 AUTH XOAUTH2 PLAIN\r\n")
            elif verb == b"AUTH":
                writer.write(b"235 2.7.0 Accepted\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        handle_ = ServerHandle("127.0.0.1", port, Recorder(), server)
        account = account_for(handle_, Security.TLS, certs, auth=AuthMethod.XOAUTH2)
        transport = SMTPTransport(account, Credentials(oauth_token=Secret("ya29.token")))
        session = await transport.connect()
        await transport.close()
        assert session.auth_mechanism == "xoauth2"
        auth = next(line for line in seen if line.startswith(b"AUTH"))
        decoded = base64.b64decode(auth.split()[2])
        assert decoded == f"user={USER}\x01auth=Bearer ya29.token\x01\x01".encode()
    finally:
        server.close()


async def test_failing_data_start_hook_drops_the_connection_without_a_message(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    """If the journal cannot record "data started" (disk full), nothing may be sent."""
    transport = SMTPTransport(
        account_for(starttls_server, Security.STARTTLS, certs), good_credentials()
    )
    await transport.connect()

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await transport.send(USER, "bob@example.com", PAYLOAD, on_data_start=disk_full)
    assert not transport.connected
    await asyncio.sleep(0.1)
    assert starttls_server.recorder.messages == []
