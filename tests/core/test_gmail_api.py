"""The Gmail API transport against a local send endpoint: replies, faults and their verdicts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.classify import FailureKind, classify
from core.errors import (
    ConnectError,
    DisconnectedError,
    HTTPReplyError,
    RecipientsMismatchError,
    SignInRequiredError,
    SMTPError,
)
from core.models import (
    Account,
    AuthMethod,
    Credentials,
    OAuthProvider,
    OAuthSettings,
    Secret,
    TransportKind,
)
from core.oauth import OAuthCredentials, sign_in_browser
from core.transport import GmailAPITransport, SMTPTransport, make_transport
from tests.certs import CertSet
from tests.gmail_api_server import GmailAPIServer, start_gmail_api_server
from tests.oauth_kit import Browser, google
from tests.oauth_server import USER_EMAIL, OAuthServer, start_oauth_server

MESSAGE = (
    b"From: alice@example.com\r\nTo: bob@example.net\r\nSubject: hi\r\n"
    b"Message-ID: <1@test>\r\n\r\nhello\r\n"
)


@pytest.fixture
async def oauth() -> AsyncIterator[OAuthServer]:
    server = await start_oauth_server(OAuthServer(access_lifetime=3600))
    yield server
    assert server.handle is not None
    await server.handle.close()


@pytest.fixture
async def api(oauth: OAuthServer) -> AsyncIterator[GmailAPIServer]:
    server = await start_gmail_api_server(oauth)
    yield server
    assert server.handle is not None
    await server.handle.close()


def gmail_account(settings: OAuthSettings, api_url: str) -> Account:
    return Account(
        host="smtp.gmail.com",
        port=587,
        sender=USER_EMAIL,
        username=USER_EMAIL,
        auth=AuthMethod.XOAUTH2,
        transport=TransportKind.GMAIL_API,
        oauth=settings,
        api_url=api_url,
    )


async def signed_in(
    oauth: OAuthServer, tmp_path: Path, **options: object
) -> tuple[OAuthSettings, OAuthCredentials]:
    settings, secret = google(oauth, tmp_path, TransportKind.GMAIL_API)
    tokens = await sign_in_browser(settings, secret, open_browser=Browser())  # type: ignore[arg-type]
    assert tokens.refresh_token is not None
    provider = OAuthCredentials(
        settings,
        tokens.refresh_token,
        client_secret=secret,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    return settings, provider


@pytest.fixture
async def transport(
    oauth: OAuthServer, api: GmailAPIServer, tmp_path: Path
) -> AsyncIterator[GmailAPITransport]:
    settings, provider = await signed_in(oauth, tmp_path)
    made = make_transport(gmail_account(settings, api.url), provider)
    assert isinstance(made, GmailAPITransport)
    await made.connect()
    yield made
    await made.close()


async def test_factory_picks_smtp_unless_the_account_uses_the_api() -> None:
    smtp = Account(host="smtp.example.com", port=587, sender="a@example.com")
    assert isinstance(make_transport(smtp), SMTPTransport)


async def test_send_uploads_rfc822_and_returns_the_message_id(
    transport: GmailAPITransport, api: GmailAPIServer
) -> None:
    started: list[int] = []
    reply = await transport.send(
        USER_EMAIL, "bob@example.net", MESSAGE, on_data_start=lambda: started.append(1)
    )
    assert reply.code == 200 and reply.text == f"id={api.sent[0].id}"
    assert api.sent[0].raw == MESSAGE and api.sent[0].sender == USER_EMAIL
    assert started == [1]


async def test_an_expired_token_gets_one_refresh_and_one_retry(
    transport: GmailAPITransport, api: GmailAPIServer, oauth: OAuthServer
) -> None:
    oauth.expire_access_tokens()
    started: list[int] = []
    await transport.send(
        USER_EMAIL, "bob@example.net", MESSAGE, on_data_start=lambda: started.append(1)
    )
    assert api.unauthorized == 1 and len(api.sent) == 1
    assert started == [1]  # the journal's data-start is written once


async def test_a_revoked_sign_in_raises_sign_in_again(
    transport: GmailAPITransport, api: GmailAPIServer
) -> None:
    api.faults = ["revoke"]
    with pytest.raises(SignInRequiredError) as caught:
        await transport.send(USER_EMAIL, "bob@example.net", MESSAGE)
    assert classify(caught.value).kind is FailureKind.CONFIG
    assert api.sent == []


async def test_headers_naming_someone_else_are_refused(
    transport: GmailAPITransport, api: GmailAPIServer
) -> None:
    with pytest.raises(RecipientsMismatchError) as caught:
        await transport.send(USER_EMAIL, "carol@example.net", MESSAGE)
    assert classify(caught.value).kind is FailureKind.PERMANENT_RECIPIENT
    assert api.requests == 0


async def test_envelope_bcc_goes_into_a_bcc_header_for_the_api(
    transport: GmailAPITransport, api: GmailAPIServer
) -> None:
    await transport.send(
        USER_EMAIL, "bob@example.net", MESSAGE, extra_recipients=("boss@example.org",)
    )
    assert sorted(api.sent[0].recipients()) == ["bob@example.net", "boss@example.org"]


@pytest.mark.parametrize(
    ("fault", "kind", "sent_anyway"),
    [
        ("429", FailureKind.RATE_LIMITED, False),
        ("403-rate", FailureKind.RATE_LIMITED, False),
        ("403-user-rate", FailureKind.RATE_LIMITED, False),
        ("403-daily", FailureKind.RATE_LIMITED, False),
        ("400", FailureKind.PERMANENT_RECIPIENT, False),
        ("503", FailureKind.TRANSIENT_SESSION, False),
        ("500", FailureKind.AMBIGUOUS, True),
        ("502", FailureKind.AMBIGUOUS, True),
        ("504", FailureKind.AMBIGUOUS, True),
        ("drop", FailureKind.AMBIGUOUS, True),
    ],
)
async def test_each_api_failure_gets_its_verdict(
    transport: GmailAPITransport,
    api: GmailAPIServer,
    fault: str,
    kind: FailureKind,
    sent_anyway: bool,
) -> None:
    api.faults = [fault]
    with pytest.raises(SMTPError) as caught:
        await transport.send(USER_EMAIL, "bob@example.net", MESSAGE)
    verdict = classify(caught.value)
    assert verdict.kind is kind
    assert verdict.until_daily_window is (fault == "403-daily")
    assert bool(api.sent) is sent_anyway
    if fault == "drop":
        assert isinstance(caught.value, DisconnectedError)
    else:
        assert isinstance(caught.value, HTTPReplyError) and caught.value.code == int(fault[:3])


async def test_google_rate_reason_is_kept_in_the_reply_text(
    transport: GmailAPITransport, api: GmailAPIServer
) -> None:
    api.faults = ["403-user-rate"]
    with pytest.raises(HTTPReplyError) as caught:
        await transport.send(USER_EMAIL, "bob@example.net", MESSAGE)
    assert caught.value.reason == "userRateLimitExceeded"
    assert "User-rate limit exceeded" in caught.value.reply


async def test_nothing_listening_is_a_connect_error_retried_with_backoff(
    oauth: OAuthServer, tmp_path: Path
) -> None:
    settings, provider = await signed_in(oauth, tmp_path)
    transport = GmailAPITransport(gmail_account(settings, "http://127.0.0.1:9"), provider)
    await transport.connect()
    started: list[int] = []
    with pytest.raises(ConnectError) as caught:
        await transport.send(
            USER_EMAIL, "bob@example.net", MESSAGE, on_data_start=lambda: started.append(1)
        )
    assert classify(caught.value).kind is FailureKind.TRANSIENT_SESSION
    assert started == []  # no byte of the message left: not even a data-start record
    assert not transport.connected


async def test_a_message_over_35_mb_is_refused_before_upload(
    transport: GmailAPITransport, api: GmailAPIServer
) -> None:
    big = MESSAGE + b"x" * (35 * 1024 * 1024)
    with pytest.raises(HTTPReplyError) as caught:
        await transport.send(USER_EMAIL, "bob@example.net", big)
    assert classify(caught.value).kind is FailureKind.PERMANENT_RECIPIENT
    assert api.requests == 0


async def test_a_pasted_token_without_provider_is_not_refreshed(api: GmailAPIServer) -> None:
    settings = OAuthSettings(
        provider=OAuthProvider.GOOGLE,
        client_id="x",
        auth_uri="https://a",
        token_uri="https://t",
        scopes=(),
    )
    transport = GmailAPITransport(
        gmail_account(settings, api.url), Credentials(oauth_token=Secret("ya29.bad"))
    )
    await transport.connect()
    with pytest.raises(HTTPReplyError) as caught:
        await transport.send(USER_EMAIL, "bob@example.net", MESSAGE)
    assert caught.value.code == 401 and api.unauthorized == 1
    assert classify(caught.value).kind is FailureKind.CONFIG
    await transport.close()


async def test_the_api_over_https_trusts_the_accounts_pinned_ca_only(
    oauth: OAuthServer, tmp_path: Path, certs: CertSet
) -> None:
    from dataclasses import replace as replaced

    from core.errors import MailerError
    from core.models import TLSOptions

    server = await start_gmail_api_server(oauth, ssl_context=certs.server_context())
    try:
        url = server.url.replace("127.0.0.1", "localhost")  # the name on the certificate
        settings, provider = await signed_in(oauth, tmp_path)
        account = gmail_account(settings, url)
        pinned = replaced(account, tls=TLSOptions(ca_file=str(certs.ca_file)))
        trusted = make_transport(pinned, provider)
        await trusted.connect()
        reply = await trusted.send(USER_EMAIL, "bob@example.net", MESSAGE)
        await trusted.close()
        assert reply.code == 200 and len(server.sent) == 1
        untrusted = make_transport(account, provider)  # the system's CAs only: refused
        await untrusted.connect()
        with pytest.raises(MailerError):
            await untrusted.send(USER_EMAIL, "bob@example.net", MESSAGE)
        await untrusted.close()
        assert len(server.sent) == 1
    finally:
        assert server.handle is not None
        await server.handle.close()


async def test_a_429_with_retry_after_pauses_at_least_that_long(
    transport: GmailAPITransport, api: GmailAPIServer
) -> None:
    api.faults = ["429-retry-after=120"]
    with pytest.raises(HTTPReplyError) as caught:
        await transport.send(USER_EMAIL, "bob@example.net", MESSAGE)
    assert caught.value.retry_after == 120.0
    verdict = classify(caught.value)
    assert verdict.kind is FailureKind.RATE_LIMITED and verdict.retry_after == 120.0
