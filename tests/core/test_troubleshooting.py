"""Every troubleshooting case of the original guide, against a real local server that does it."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from core.classify import FailureKind, classify
from core.diagnose import diagnose
from core.diagnose_hints import IMPLICIT_TLS_HINT, PLAIN_PORT_HINT, connect_hint
from core.errors import Phase, ProxyError, TimedOutError, TLSError
from core.models import Credentials, Proxy, Secret, Security, Timeouts, TLSOptions
from core.transport import SMTPTransport
from core.transport.certinfo import CertInfo, clock_verdict, parse_certificate
from core.transport.proxies import choose_proxy, environment_proxy, https_proxy_url
from tests.certs import CertSet
from tests.conftest import account_for, good_credentials
from tests.smtpd import USER, ServerHandle, start_raw_server, start_server
from tests.socks import start_socks_proxy

CORP_HOST = "mail.corp.test"  # a name only the test proxy resolves
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Any]


def _names(report: Any) -> list[str]:
    return [step.name for step in report.steps]


def _silent(seconds: float) -> Script:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]
    ) -> None:
        await asyncio.sleep(seconds)

    return script


# -- port and security mode ------------------------------------------------------------------


async def test_starttls_on_an_implicit_tls_port_says_the_port_expects_tls(
    tls_server: ServerHandle, certs: CertSet
) -> None:
    account = account_for(tls_server, Security.STARTTLS, certs, timeouts=Timeouts(connect=0.5))
    report = await diagnose(account, good_credentials())
    assert not report.ok
    failed = report.steps[-1]
    assert failed.name == "greeting"
    assert failed.hint == IMPLICIT_TLS_HINT
    assert "expects TLS at once: choose TLS (465) or STARTTLS on 587" in failed.hint
    assert "firewall" not in failed.hint
    assert tls_server.recorder.auth_attempts == []


async def test_tls_on_a_plain_starttls_port_says_the_port_speaks_plain_smtp(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    report = await diagnose(account_for(starttls_server, Security.TLS, certs), good_credentials())
    assert not report.ok
    assert report.steps[-1].name == "TLS handshake"
    assert report.steps[-1].hint == PLAIN_PORT_HINT


async def test_silent_server_after_accept_fails_at_the_greeting_step() -> None:
    raw = await start_raw_server(_silent(5))
    try:
        account = account_for(raw, Security.NONE, timeouts=Timeouts(connect=0.3))  # type: ignore[arg-type]
        report = await diagnose(account)
        assert _names(report) == ["DNS lookup", "TCP connect", "greeting"]
        assert report.steps[1].ok and not report.steps[2].ok
        assert "opened but the server said nothing" in report.steps[2].hint
    finally:
        await raw.close()


async def test_tls_server_name_shows_tcp_connect_once(certs: CertSet) -> None:
    handle = await start_server("starttls", certs, cert=certs.wrong_host_cert)
    try:
        account = account_for(
            handle,
            Security.STARTTLS,
            certs,
            host="127.0.0.1",
            tls=TLSOptions(ca_file=str(certs.ca_file), server_name="other.example"),
        )
        report = await diagnose(account, good_credentials())
        assert report.ok, report.lines()
        assert _names(report).count("TCP connect") == 1
        assert _names(report)[:3] == ["DNS lookup", "TCP connect", "greeting"]
    finally:
        await handle.close()


# -- certificates ----------------------------------------------------------------------------


async def test_certificate_for_a_name_reached_by_ip_gets_the_ip_hint(certs: CertSet) -> None:
    handle = await start_server("tls", certs, cert=certs.name_only_cert)
    try:
        account = account_for(handle, Security.TLS, certs, host="127.0.0.1")
        with pytest.raises(TLSError) as caught:
            await SMTPTransport(account, good_credentials()).connect()
        assert caught.value.reason == "ip-mismatch"  # OpenSSL verify code 64
        report = await diagnose(account, good_credentials())
        failed = report.steps[-1]
        assert failed.name == "TLS handshake"
        assert "by its IP address 127.0.0.1" in failed.hint
        assert "(localhost)" in failed.hint  # the names the certificate carries
        assert "TLS server name" in failed.hint
        assert handle.recorder.auth_attempts == []
    finally:
        await handle.close()


async def test_missing_ca_file_is_named_with_its_own_hint(
    starttls_server: ServerHandle, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "company-ca.pem"
    account = account_for(
        starttls_server, Security.STARTTLS, None, tls=TLSOptions(ca_file=str(missing))
    )
    report = await diagnose(account, good_credentials())
    failed = report.steps[-1]
    assert failed.name == "CA file"
    assert str(missing) in failed.detail and "does not exist" in failed.detail
    assert "does not exist: check its path" in failed.hint
    assert starttls_server.recorder.auth_attempts == []


async def test_ca_file_that_is_not_pem_gets_its_own_hint(
    starttls_server: ServerHandle, certs: CertSet, tmp_path: Path
) -> None:
    der = tmp_path / "ca.der"
    cert = x509.load_pem_x509_certificate(certs.ca_file.read_bytes())
    der.write_bytes(cert.public_bytes(Encoding.DER))
    account = account_for(
        starttls_server, Security.STARTTLS, None, tls=TLSOptions(ca_file=str(der))
    )
    report = await diagnose(account, good_credentials())
    failed = report.steps[-1]
    assert failed.name == "CA file"
    assert "not a PEM certificate" in failed.detail
    assert "export the CA as PEM" in failed.hint


async def test_two_ca_files_each_trusted(certs: CertSet) -> None:
    """A company bundle and a private CA: servers signed by either one pass."""
    both = TLSOptions.with_ca_paths([str(certs.ca_file), str(certs.other_ca_file)])
    for cert in (certs.cert_file, certs.other_ca_cert):
        handle = await start_server("starttls", certs, cert=cert)
        try:
            report = await diagnose(
                account_for(handle, Security.STARTTLS, None, tls=both), good_credentials()
            )
            assert report.ok, report.lines()
        finally:
            await handle.close()
    only_first = account_for(handle, Security.STARTTLS, certs)  # the other CA is not pinned
    handle = await start_server("starttls", certs, cert=certs.other_ca_cert)
    try:
        report = await diagnose(replace(only_first, port=handle.port), good_credentials())
        assert not report.ok and report.steps[-1].name == "STARTTLS"
    finally:
        await handle.close()


async def test_a_folder_of_ca_files_is_trusted(certs: CertSet, tmp_path: Path) -> None:
    folder = tmp_path / "cas"
    folder.mkdir()
    shutil.copy(certs.ca_file, folder / "company.pem")
    shutil.copy(certs.other_ca_file, folder / "private.crt")
    (folder / "README.txt").write_text("not a certificate\n")
    handle = await start_server("tls", certs, cert=certs.other_ca_cert)
    try:
        account = account_for(handle, Security.TLS, None, tls=TLSOptions(ca_file=str(folder)))
        report = await diagnose(account, good_credentials())
        assert report.ok, report.lines()
    finally:
        await handle.close()


async def test_expired_certificate_compares_with_this_computers_clock(certs: CertSet) -> None:
    handle = await start_server("tls", certs, cert=certs.expired_cert)
    try:
        report = await diagnose(account_for(handle, Security.TLS, certs), good_credentials())
        failed = report.steps[-1]
        assert failed.name == "TLS handshake"
        assert "this computer's clock says" in failed.hint
        assert "the server's certificate has likely expired" in failed.hint
        expired_on = x509.load_pem_x509_certificate(
            certs.expired_cert.read_bytes()
        ).not_valid_after_utc
        assert f"{expired_on:%Y-%m-%d}" in failed.hint
    finally:
        await handle.close()


async def test_not_yet_valid_certificate_points_at_a_clock_behind(certs: CertSet) -> None:
    handle = await start_server("starttls", certs, cert=certs.future_cert)
    try:
        report = await diagnose(account_for(handle, Security.STARTTLS, certs), good_credentials())
        failed = report.steps[-1]
        assert failed.name == "STARTTLS"
        assert "this computer's clock is likely behind" in failed.hint
    finally:
        await handle.close()


def _cert(before: dt.datetime, after: dt.datetime) -> CertInfo:
    return CertInfo("CN=mail.example", "CN=Example CA", before, after)


def test_clock_verdict_blames_the_computer_when_the_server_clock_disagrees() -> None:
    now = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
    cert = _cert(now - dt.timedelta(days=400), now - dt.timedelta(days=2))
    server = now - dt.timedelta(days=30)
    verdict = clock_verdict(cert, now=now, server_time=server)
    assert "this computer's clock is likely wrong" in verdict
    assert "server's certificate" not in verdict
    alone = clock_verdict(cert, now=now)
    assert "the server's certificate has likely expired" in alone


def test_clock_verdict_rejects_a_clock_before_the_software_existed() -> None:
    cert = _cert(dt.datetime(2026, 6, 1, tzinfo=dt.UTC), dt.datetime(2027, 6, 1, tzinfo=dt.UTC))
    verdict = clock_verdict(cert, now=dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
    assert "cannot be right" in verdict


def test_certificate_reader_agrees_with_cryptography(certs: CertSet) -> None:
    for path in (certs.cert_file, certs.expired_cert, certs.future_cert, certs.ca_file):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        info = parse_certificate(cert.public_bytes(Encoding.DER))
        assert info.not_before == cert.not_valid_before_utc
        assert info.not_after == cert.not_valid_after_utc
        assert info.subject == cert.subject.rfc4514_string()
        assert info.issuer == cert.issuer.rfc4514_string()
    info = parse_certificate(
        x509.load_pem_x509_certificate(certs.cert_file.read_bytes()).public_bytes(Encoding.DER)
    )
    assert info.names == ("localhost", "127.0.0.1")


# -- proxies ---------------------------------------------------------------------------------


async def test_send_through_a_socks4_proxy(starttls_server: ServerHandle, certs: CertSet) -> None:
    proxy = await start_socks_proxy()
    try:
        setting, _ = Proxy.from_url(f"socks4://127.0.0.1:{proxy.port}")
        account = account_for(starttls_server, Security.STARTTLS, certs, proxy=setting)
        report = await diagnose(account, good_credentials())
        assert report.ok, report.lines()
        assert proxy.versions == [4]  # the reachability probe says nothing; SOCKS4a tunnel
        assert proxy.connects == [("localhost", starttls_server.port)]
        assert report.steps[0].detail.startswith(f"socks4://127.0.0.1:{proxy.port}")
    finally:
        await proxy.close()


async def test_environment_proxy_is_used_and_named(
    plain_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await start_socks_proxy(
        credentials=("envuser", "env-secret"), hosts={CORP_HOST: plain_server.host}
    )
    try:
        monkeypatch.setenv("ALL_PROXY", f"socks5://envuser:env-secret@127.0.0.1:{proxy.port}")
        report = await diagnose(account_for(plain_server, Security.NONE, host=CORP_HOST))
        assert report.ok, report.lines()
        assert _names(report)[:2] == ["proxy reachable", "proxy tunnel"]
        assert "(from environment variable ALL_PROXY)" in report.steps[0].detail
        assert "env-secret" not in "\n".join(report.lines())
        assert proxy.logins == [("envuser", "env-secret")]
        assert proxy.connects == [(CORP_HOST, plain_server.port)]
        assert plain_server.recorder.mail_seen == [USER]
    finally:
        await proxy.close()


async def test_environment_proxy_is_never_used_for_this_computer(
    plain_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox and other local servers are reached directly (as Go's net/http does)."""
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")  # nothing listens there
    report = await diagnose(account_for(plain_server, Security.NONE))  # host 127.0.0.1
    assert report.ok, report.lines()
    assert report.proxy is None and "proxy reachable" not in _names(report)


async def test_unreachable_environment_proxy_is_tested_on_its_own(
    plain_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await start_socks_proxy()
    port = proxy.port
    await proxy.close()  # nothing listens there now
    monkeypatch.setenv("all_proxy", f"socks5://127.0.0.1:{port}")
    report = await diagnose(account_for(plain_server, Security.NONE, host=CORP_HOST))
    assert _names(report) == ["proxy reachable"]
    failed = report.steps[0]
    assert not failed.ok
    assert f"127.0.0.1:{port}" in failed.hint and "environment variable all_proxy" in failed.hint
    assert "unset that variable" in failed.hint
    assert plain_server.recorder.connections == 0


async def test_proxy_that_refuses_the_login_gets_the_proxy_auth_hint(
    starttls_server: ServerHandle, certs: CertSet
) -> None:
    proxy = await start_socks_proxy(credentials=("user", "right"))
    try:
        account = account_for(
            starttls_server,
            Security.STARTTLS,
            certs,
            proxy=Proxy.from_url(f"socks5://user@127.0.0.1:{proxy.port}")[0],
        )
        creds = replace(good_credentials(), proxy_password=Secret("wrong"))
        report = await diagnose(account, creds)
        assert report.steps[-1].name == "proxy tunnel"
        assert "refused its user name or password" in report.steps[-1].hint
    finally:
        await proxy.close()


def test_no_proxy_and_account_proxy_take_precedence(certs: CertSet) -> None:
    env = {"ALL_PROXY": "socks5://10.0.0.1:1080", "NO_PROXY": "mx.example,.internal"}
    assert environment_proxy("mx.example", environ=env) is None
    assert environment_proxy("localhost", environ=env) is None  # this computer: never
    assert environment_proxy("127.0.0.2", environ=env) is None
    assert environment_proxy("[::1]", environ=env) is None
    assert environment_proxy("smtp.corp.internal", environ=env) is None
    found = environment_proxy("smtp.gmail.com", environ=env)
    assert found is not None and found.proxy.host == "10.0.0.1"
    assert environment_proxy("smtp.gmail.com", environ={**env, "NO_PROXY": "*"}) is None
    handle = ServerHandle("127.0.0.1", 1, None, None)  # type: ignore[arg-type]
    own = Proxy.from_url("http://proxy.corp:3128")[0]
    account = account_for(handle, Security.STARTTLS, certs, host="smtp.gmail.com", proxy=own)
    choice = choose_proxy(account, Credentials(), environ=env)
    assert choice is not None and choice.proxy == own and choice.source == "the account's settings"


def test_https_proxy_helper_for_http_api_transports() -> None:
    url = "https://gmail.googleapis.com/gmail/v1/users/me/messages/send"
    assert https_proxy_url(url, environ={}) is None
    assert https_proxy_url(url, environ={"HTTPS_PROXY": "proxy:3128"}) == "http://proxy:3128"
    assert https_proxy_url(url, environ={"ALL_PROXY": "socks5://p:1"}) == "socks5://p:1"
    both = {"https_proxy": "http://a:1", "ALL_PROXY": "socks5://b:2"}
    assert https_proxy_url(url, environ=both) == "http://a:1"
    assert https_proxy_url(url, environ={**both, "no_proxy": "googleapis.com"}) is None


def test_bad_environment_proxy_names_the_variable_without_its_password() -> None:
    with pytest.raises(ValueError, match="ALL_PROXY") as caught:
        environment_proxy("smtp.example.com", environ={"ALL_PROXY": "ftp://u:pw-123@h:1"})
    assert "pw-123" not in str(caught.value)


def test_port_25_timeout_names_isp_blocking() -> None:
    handle = ServerHandle("127.0.0.1", 25, None, None)  # type: ignore[arg-type]
    account = account_for(handle, Security.NONE)
    hint = connect_hint(TimedOutError("no answer", phase=Phase.CONNECT), account)
    assert "ISPs" in hint and "587" in hint and "465" in hint


async def test_unusable_environment_proxy_is_a_config_error_naming_the_variable(
    plain_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALL_PROXY", "ftp://user:pw-456@proxy.corp:21")
    account = account_for(plain_server, Security.NONE, host=CORP_HOST)
    with pytest.raises(ProxyError) as caught:
        await SMTPTransport(account).connect()
    assert classify(caught.value).kind is FailureKind.CONFIG  # never retried in a loop
    report = await diagnose(account)
    assert _names(report) == ["proxy setting"]
    assert "ALL_PROXY" in report.steps[0].detail and "pw-456" not in report.steps[0].detail
    assert "not a proxy URL" in report.steps[0].hint
    assert plain_server.recorder.connections == 0
