"""SMTP XOAUTH2 with a credential provider: a fresh token at each login, one refresh on 535."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.errors import AuthError, SignInRequiredError
from core.models import AuthMethod, Credentials, Secret, Security
from core.oauth import OAuthCredentials, sign_in_browser
from core.transport import SMTPTransport
from tests.certs import CertSet
from tests.conftest import account_for
from tests.oauth_kit import Browser, microsoft
from tests.oauth_server import USER_EMAIL, OAuthServer, start_oauth_server
from tests.smtpd import OAuthRecorder, ServerHandle, start_server


@pytest.fixture
async def oauth() -> AsyncIterator[OAuthServer]:
    server = await start_oauth_server(OAuthServer(access_lifetime=3600))
    yield server
    assert server.handle is not None
    await server.handle.close()


@pytest.fixture
async def smtp(certs: CertSet, oauth: OAuthServer) -> AsyncIterator[ServerHandle]:
    handle = await start_server("starttls", certs, recorder=OAuthRecorder(check=oauth.check_bearer))
    yield handle
    await handle.close()


async def _provider(oauth: OAuthServer) -> OAuthCredentials:
    settings = microsoft(oauth)
    tokens = await sign_in_browser(settings, None, open_browser=Browser())
    assert tokens.refresh_token is not None
    return OAuthCredentials(settings, tokens.refresh_token)


def _transport(smtp: ServerHandle, certs: CertSet, credentials: object) -> SMTPTransport:
    account = account_for(
        smtp, Security.STARTTLS, certs, auth=AuthMethod.XOAUTH2, username=USER_EMAIL
    )
    return SMTPTransport(account, credentials)  # type: ignore[arg-type]


async def test_xoauth2_login_takes_the_token_from_the_provider(
    smtp: ServerHandle, certs: CertSet, oauth: OAuthServer
) -> None:
    transport = _transport(smtp, certs, await _provider(oauth))
    session = await transport.connect()
    await transport.send(USER_EMAIL, "bob@example.net", b"Subject: hi\r\n\r\nhello\r\n")
    await transport.close()
    assert session.auth_mechanism == "xoauth2"
    recorder = smtp.recorder
    assert isinstance(recorder, OAuthRecorder)
    assert recorder.xoauth2_attempts == [(USER_EMAIL, True)]
    assert recorder.recipients() == ["bob@example.net"]


async def test_a_refused_token_is_refreshed_once_and_the_login_retried(
    smtp: ServerHandle, certs: CertSet, oauth: OAuthServer
) -> None:
    provider = await _provider(oauth)
    await provider.current()
    oauth.expire_access_tokens()  # the server no longer takes it; the client cannot know
    transport = _transport(smtp, certs, provider)
    await transport.connect()
    await transport.close()
    recorder = smtp.recorder
    assert isinstance(recorder, OAuthRecorder)
    assert recorder.xoauth2_attempts == [(USER_EMAIL, False), (USER_EMAIL, True)]
    assert provider.refreshes == 2


async def test_a_revoked_sign_in_stops_the_login_with_sign_in_again(
    smtp: ServerHandle, certs: CertSet, oauth: OAuthServer
) -> None:
    provider = await _provider(oauth)
    await provider.current()
    oauth.revoke_all()
    transport = _transport(smtp, certs, provider)
    with pytest.raises(SignInRequiredError, match="sign in again"):
        await transport.connect()
    assert not transport.connected


async def test_a_pasted_token_is_not_retried_when_refused(
    smtp: ServerHandle, certs: CertSet
) -> None:
    transport = _transport(smtp, certs, Credentials(oauth_token=Secret("ya29.stale")))
    with pytest.raises(AuthError) as caught:
        await transport.connect()
    assert caught.value.code == 535
    recorder = smtp.recorder
    assert isinstance(recorder, OAuthRecorder)
    assert len(recorder.xoauth2_attempts) == 1
