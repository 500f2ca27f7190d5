"""Campaigns with signed-in accounts: tokens refreshed mid-way, revoked sign-ins, API faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.events import CampaignStatus, Paused
from core.models import AuthMethod, Security, SendSettings
from core.oauth import OAuthCredentials, sign_in_browser
from core.pacing import DAY
from core.transport import GmailAPITransport, SMTPTransport
from tests.certs import CertSet
from tests.conftest import account_for
from tests.core.engine_kit import START, FakeClock, Harness, make_campaign, people
from tests.core.test_gmail_api import gmail_account
from tests.gmail_api_server import GmailAPIServer, start_gmail_api_server
from tests.oauth_kit import Browser, google, microsoft
from tests.oauth_server import USER_EMAIL, OAuthServer, start_oauth_server
from tests.smtpd import OAuthRecorder, ServerHandle, start_server

LIFETIME = 30  # seconds an access token lives (fake time)
EMAILS = [f"r{n:02d}@example.net" for n in range(20)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def oauth(clock: FakeClock) -> AsyncIterator[OAuthServer]:
    server = await start_oauth_server(OAuthServer(clock=clock.now, access_lifetime=LIFETIME))
    yield server
    assert server.handle is not None
    await server.handle.close()


@pytest.fixture
async def api(oauth: OAuthServer) -> AsyncIterator[GmailAPIServer]:
    server = await start_gmail_api_server(oauth)
    yield server
    assert server.handle is not None
    await server.handle.close()


async def _google_provider(
    oauth: OAuthServer, tmp_path: Path, clock: FakeClock
) -> tuple[object, OAuthCredentials]:
    from core.models import TransportKind

    settings, secret = google(oauth, tmp_path, TransportKind.GMAIL_API)
    tokens = await sign_in_browser(settings, secret, open_browser=Browser(), clock=clock.now)  # type: ignore[arg-type]
    assert tokens.refresh_token is not None
    provider = OAuthCredentials(
        settings,
        tokens.refresh_token,
        client_secret=secret,  # type: ignore[arg-type]
        clock=clock.now,
    )
    return settings, provider


def _harness(
    tmp_path: Path, clock: FakeClock, account: object, transport: object, **settings: object
) -> Harness:
    h = make_campaign(
        tmp_path,
        account,  # type: ignore[arg-type]
        people(*EMAILS),
        SendSettings(**{"delay_ms": 5000, **settings}),  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
    )
    h.runner.clock = clock
    h.clock = clock
    return h


async def test_gmail_api_campaign_longer_than_a_token_refreshes_and_sends_each_once(
    tmp_path: Path, clock: FakeClock, oauth: OAuthServer, api: GmailAPIServer
) -> None:
    settings, provider = await _google_provider(oauth, tmp_path, clock)
    account = gmail_account(settings, api.url)  # type: ignore[arg-type]
    h = _harness(tmp_path, clock, account, GmailAPITransport(account, provider))
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.FINISHED and finished.sent == len(EMAILS)
    assert sorted(r for s in api.sent for r in s.recipients()) == EMAILS  # each exactly once
    assert api.unauthorized == 0  # refreshed before expiry, never too late
    assert clock.wall - START > 3 * LIFETIME
    assert provider.refreshes >= 3


async def test_smtp_xoauth2_campaign_logs_in_again_with_a_fresh_token(
    tmp_path: Path, clock: FakeClock, oauth: OAuthServer, certs: CertSet
) -> None:
    recorder = OAuthRecorder(check=oauth.check_bearer)
    recorder.rcpt_replies = {EMAILS[8]: ["421 4.7.0 Try again later, closing connection"]}
    smtp: ServerHandle = await start_server("starttls", certs, recorder=recorder)
    try:
        settings = microsoft(oauth)
        tokens = await sign_in_browser(settings, None, open_browser=Browser(), clock=clock.now)
        assert tokens.refresh_token is not None
        provider = OAuthCredentials(settings, tokens.refresh_token, clock=clock.now)
        account = account_for(
            smtp, Security.STARTTLS, certs, auth=AuthMethod.XOAUTH2, username=USER_EMAIL
        )
        h = _harness(tmp_path, clock, account, SMTPTransport(account, provider))
        finished = await h.runner.run()
    finally:
        await smtp.close()
    assert finished.sent == len(EMAILS)
    assert sorted(recorder.recipients()) == EMAILS
    assert len(recorder.xoauth2_attempts) == 2 and all(ok for _, ok in recorder.xoauth2_attempts)
    assert provider.refreshes == 2  # the second login needed (and got) a new token


async def test_a_revoked_sign_in_stops_cleanly_and_resumes_after_signing_in_again(
    tmp_path: Path, clock: FakeClock, oauth: OAuthServer, api: GmailAPIServer
) -> None:
    settings, provider = await _google_provider(oauth, tmp_path, clock)
    account = gmail_account(settings, api.url)  # type: ignore[arg-type]
    api.faults = ["", "", "", "revoke"]
    h = _harness(tmp_path, clock, account, GmailAPITransport(account, provider))
    finished = await h.runner.run()
    assert finished.status is CampaignStatus.ABORTED
    assert "sign-in" in finished.reason and "Sign in again" in finished.hint
    assert finished.sent == 3 and finished.unknown == 0 and finished.failed == 0
    assert finished.pending == len(EMAILS) - 3
    assert len(api.sent) == 3
    h.journal.close()

    _, again = await _google_provider(oauth, tmp_path, clock)  # the person signs in again
    journal = h.store.open_campaign(h.journal.campaign_id)
    from core.engine import CampaignRunner
    from tests.core.engine_kit import TinyBuilder

    runner = CampaignRunner(
        journal=journal,
        transport=GmailAPITransport(account, again),
        builder=TinyBuilder(),
        sender=account.sender,
        settings=SendSettings(delay_ms=5000),
        clock=clock,
        stop_on_pause=True,
    )
    done = await runner.run()
    journal.close()
    assert done.status is CampaignStatus.FINISHED
    assert sorted(r for s in api.sent for r in s.recipients()) == EMAILS


async def test_a_lost_api_reply_is_unknown_and_never_resent(
    tmp_path: Path, clock: FakeClock, oauth: OAuthServer, api: GmailAPIServer
) -> None:
    settings, provider = await _google_provider(oauth, tmp_path, clock)
    account = gmail_account(settings, api.url)  # type: ignore[arg-type]
    api.faults = ["", "drop", "502"]
    h = _harness(tmp_path, clock, account, GmailAPITransport(account, provider))
    finished = await h.runner.run()
    assert finished.unknown == 2 and finished.sent == len(EMAILS) - 2
    assert len(api.sent) == len(EMAILS)  # Google had sent both: no copy went twice
    assert sorted(r for s in api.sent for r in s.recipients()) == EMAILS


async def test_rate_replies_pause_then_resume_and_daily_limit_waits_for_the_window(
    tmp_path: Path, clock: FakeClock, oauth: OAuthServer, api: GmailAPIServer
) -> None:
    settings, provider = await _google_provider(oauth, tmp_path, clock)
    account = gmail_account(settings, api.url)  # type: ignore[arg-type]
    api.faults = ["", "429", "", "403-user-rate", "", "403-daily", "503", "400"]
    h = _harness(tmp_path, clock, account, GmailAPITransport(account, provider))
    finished = await h.runner.run()
    pauses = [e for e in h.events if isinstance(e, Paused)]
    assert len(pauses) == 3
    assert pauses[0].until is not None and pauses[0].until - pauses[0].at == 3600.0
    assert pauses[2].until == START + DAY  # when the first send of the window leaves it
    assert finished.status is CampaignStatus.FINISHED
    assert finished.failed == 1 and finished.sent == len(EMAILS) - 1  # the 400 one failed
    assert len(api.sent) == len(EMAILS) - 1


async def test_a_longer_retry_after_than_the_usual_pause_is_honoured(
    tmp_path: Path, clock: FakeClock, oauth: OAuthServer, api: GmailAPIServer
) -> None:
    settings, provider = await _google_provider(oauth, tmp_path, clock)
    account = gmail_account(settings, api.url)  # type: ignore[arg-type]
    api.faults = ["", "429-retry-after=7200"]
    h = _harness(tmp_path, clock, account, GmailAPITransport(account, provider))
    finished = await h.runner.run()
    (pause,) = [e for e in h.events if isinstance(e, Paused)]
    assert pause.until is not None and pause.until - pause.at == 7200.0  # not the usual 3600
    assert finished.status is CampaignStatus.FINISHED and len(api.sent) == len(EMAILS)
