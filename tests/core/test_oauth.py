"""Sign-in and token refresh against a local OAuth server that enforces the protocol."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from core.errors import ConnectError, InputError, SignInRequiredError
from core.models import OAuthProvider, Secret, TransportKind
from core.oauth import (
    GMAIL_SEND_SCOPE,
    GMAIL_SMTP_SCOPE,
    MICROSOFT_SMTP_SCOPE,
    DeviceCode,
    OAuthCredentials,
    OAuthFlowError,
    load_client_secrets,
    microsoft_settings,
    sign_in_browser,
    sign_in_device,
)
from tests.oauth_kit import Browser, google, microsoft
from tests.oauth_server import GOOGLE_CLIENT, USER_EMAIL, OAuthServer, start_oauth_server


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def oauth(clock: Clock) -> AsyncIterator[OAuthServer]:
    server = await start_oauth_server(OAuthServer(clock=clock, access_lifetime=600))
    yield server
    assert server.handle is not None
    await server.handle.close()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def test_google_sign_in_uses_pkce_s256_state_and_a_loopback_redirect(
    oauth: OAuthServer, tmp_path: Path, clock: Clock
) -> None:
    settings, secret = google(oauth, tmp_path)
    browser = Browser()
    shown: list[str] = []
    tokens = await sign_in_browser(
        settings, secret, open_browser=browser, on_url=shown.append, clock=clock
    )
    assert tokens.email == USER_EMAIL
    assert tokens.refresh_token is not None
    assert oauth.check_bearer(tokens.access_token.reveal(), GMAIL_SMTP_SCOPE) == USER_EMAIL
    asked = oauth.authorize_requests[0]
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"].startswith("http://127.0.0.1:")
    assert asked["access_type"] == "offline" and asked["state"]
    assert GMAIL_SMTP_SCOPE in asked["scope"].split()
    assert shown == browser.opened  # the URL was shown as well as opened
    assert browser.landed[0].status_code == 200
    assert oauth.grants == ["authorization_code"]


async def test_google_api_transport_asks_only_for_gmail_send(
    oauth: OAuthServer, tmp_path: Path
) -> None:
    settings, _ = google(oauth, tmp_path, TransportKind.GMAIL_API)
    assert GMAIL_SEND_SCOPE in settings.scopes and GMAIL_SMTP_SCOPE not in settings.scopes


async def test_microsoft_sign_in_as_a_public_client(oauth: OAuthServer, clock: Clock) -> None:
    settings = microsoft(oauth)
    browser = Browser()
    tokens = await sign_in_browser(settings, None, open_browser=browser, clock=clock)
    assert tokens.refresh_token is not None
    assert oauth.check_bearer(tokens.access_token.reveal(), MICROSOFT_SMTP_SCOPE) == USER_EMAIL
    assert "/consumers/oauth2/v2.0/authorize" in browser.opened[0]
    scopes = _query(browser.opened[0])["scope"].split()
    assert {"offline_access", MICROSOFT_SMTP_SCOPE} <= set(scopes)


async def test_no_browser_shows_the_url_to_open_by_hand(oauth: OAuthServer) -> None:
    settings = microsoft(oauth)
    browser = Browser()

    def show(url: str) -> None:  # the person copies it into a browser elsewhere
        asyncio.get_running_loop().run_in_executor(None, browser, url)

    tokens = await sign_in_browser(settings, None, open_browser=None, on_url=show)
    assert tokens.email == USER_EMAIL and len(browser.opened) == 1


async def test_a_forged_state_stops_the_sign_in_before_any_token_request(
    oauth: OAuthServer,
) -> None:
    def forge(location: str) -> str:
        return location.replace("state=", "state=evil")

    with pytest.raises(OAuthFlowError, match="state"):
        await sign_in_browser(microsoft(oauth), None, open_browser=Browser(forge), timeout=10)
    assert oauth.grants == []


async def test_cancel_on_the_consent_screen_is_a_clear_error(oauth: OAuthServer) -> None:
    oauth.deny = True
    with pytest.raises(OAuthFlowError, match="access_denied"):
        await sign_in_browser(microsoft(oauth), None, open_browser=Browser(), timeout=10)


async def test_no_answer_from_the_browser_times_out(oauth: OAuthServer) -> None:
    with pytest.raises(OAuthFlowError, match="no answer"):
        await sign_in_browser(microsoft(oauth), None, open_browser=None, timeout=0.2)


async def test_the_server_refuses_a_wrong_verifier_and_a_reused_code(oauth: OAuthServer) -> None:
    """The local server enforces PKCE and single-use codes (what the client relies on)."""
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect = "http://127.0.0.1:9/"
    async with httpx.AsyncClient() as client:
        answer = await client.get(
            f"{oauth.url}/o/oauth2/auth",
            params={
                "client_id": GOOGLE_CLIENT,
                "redirect_uri": redirect,
                "response_type": "code",
                "state": "s",
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            },
        )
        code = _query(answer.headers["location"])["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": GOOGLE_CLIENT,
            "client_secret": "GOCSPX-test-secret",
        }
        wrong = await client.post(f"{oauth.url}/token", data={**form, "code_verifier": "x" * 64})
        again = await client.post(f"{oauth.url}/token", data={**form, "code_verifier": verifier})
        plain = await client.get(
            f"{oauth.url}/o/oauth2/auth",
            params={"client_id": GOOGLE_CLIENT, "redirect_uri": "https://evil.example/cb"},
        )
    assert wrong.json()["error"] == "invalid_grant"
    assert again.json()["error"] == "invalid_grant"  # a code is good for one try only
    assert plain.status_code == 400


async def test_device_code_polls_through_pending_and_slow_down(
    oauth: OAuthServer, clock: Clock
) -> None:
    shown: list[DeviceCode] = []
    polls = 0

    async def sleep(seconds: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 2:
            await clock.sleep(1)  # too soon: the server says slow_down
            return
        if polls == 4:
            oauth.approve_device(shown[0].user_code)
        await clock.sleep(seconds)

    tokens = await sign_in_device(microsoft(oauth), on_code=shown.append, clock=clock, sleep=sleep)
    assert tokens.refresh_token is not None and tokens.email == USER_EMAIL
    assert shown[0].user_code in shown[0].message
    assert oauth.grants.count("urn:ietf:params:oauth:grant-type:device_code") == 4


async def test_device_code_that_expires_says_so(oauth: OAuthServer, clock: Clock) -> None:
    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds + 1000)

    with pytest.raises(OAuthFlowError, match="expired"):
        await sign_in_device(microsoft(oauth), on_code=lambda code: None, clock=clock, sleep=sleep)


async def _signed_in(oauth: OAuthServer, clock: Clock, **options: object) -> OAuthCredentials:
    settings = microsoft(oauth)
    tokens = await sign_in_browser(settings, None, open_browser=Browser(), clock=clock)
    assert tokens.refresh_token is not None
    return OAuthCredentials(settings, tokens.refresh_token, clock=clock, **options)  # type: ignore[arg-type]


async def test_current_refreshes_only_near_expiry(oauth: OAuthServer, clock: Clock) -> None:
    provider = await _signed_in(oauth, clock)
    first = await provider.current()
    clock.t += 500  # 100 s left of 600: more than the 60 s leeway
    assert await provider.current() == first
    clock.t += 50  # 50 s left: refresh now, before the server would refuse it
    second = await provider.current()
    assert second.oauth_token != first.oauth_token
    assert provider.refreshes == 2
    assert oauth.check_bearer(second.oauth_token.reveal()) == USER_EMAIL  # type: ignore[union-attr]


async def test_refresh_forces_a_new_token(oauth: OAuthServer, clock: Clock) -> None:
    provider = await _signed_in(oauth, clock)
    first = await provider.current()
    second = await provider.refresh()
    assert second.oauth_token != first.oauth_token and provider.refreshes == 2


async def test_a_rotated_refresh_token_is_handed_over_to_be_stored(
    oauth: OAuthServer, clock: Clock
) -> None:
    oauth.rotate_refresh = True
    stored: list[Secret] = []
    provider = await _signed_in(oauth, clock, on_rotate=stored.append)
    await provider.current()
    await provider.refresh()  # works only if the rotated token was kept
    assert len(stored) == 2 and stored[0] != stored[1]


async def test_a_revoked_refresh_token_asks_to_sign_in_again(
    oauth: OAuthServer, clock: Clock, tmp_path: Path
) -> None:
    settings, secret = google(oauth, tmp_path)
    tokens = await sign_in_browser(settings, secret, open_browser=Browser(), clock=clock)
    assert tokens.refresh_token is not None
    provider = OAuthCredentials(
        settings,
        tokens.refresh_token,
        client_secret=secret,
        clock=clock,  # type: ignore[arg-type]
    )
    oauth.revoke_all()
    with pytest.raises(SignInRequiredError) as caught:
        await provider.current()
    message = str(caught.value)
    assert "sign in again" in message and "7 days" in message and "restricted" in message
    assert tokens.refresh_token.reveal() not in message
    assert caught.value.__suppress_context__  # no Authlib traceback carrying the request


async def test_an_unreachable_token_endpoint_is_a_connect_error(clock: Clock) -> None:
    settings = microsoft_settings("id", authority="http://127.0.0.1:9/common")
    provider = OAuthCredentials(settings, Secret("r"), clock=clock)
    with pytest.raises(ConnectError):
        await provider.current()


def test_client_secrets_must_be_a_desktop_app_client(tmp_path: Path) -> None:
    web = tmp_path / "web.json"
    web.write_text('{"web": {"client_id": "x"}}', encoding="utf-8")
    with pytest.raises(InputError, match="Desktop app"):
        load_client_secrets(web)
    broken = tmp_path / "broken.json"
    broken.write_text('{"installed": {"client_id": "x", "auth_uri": "http://evil/"}}')
    with pytest.raises(InputError, match=r"auth_uri|token_uri"):
        load_client_secrets(broken)


def test_endpoints_must_be_https_except_on_this_machine() -> None:
    with pytest.raises(InputError, match="https"):
        microsoft_settings("id", authority="http://login.example.com/common")
    assert microsoft_settings("id", tenant="organizations").auth_uri == (
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
    )
    assert microsoft_settings("id").provider is OAuthProvider.MICROSOFT


async def test_the_loopback_listener_ignores_other_paths_and_answers_once() -> None:
    from core.oauth.loopback import LoopbackRedirect

    async with LoopbackRedirect("the-state") as listener:
        assert listener.redirect_uri.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            favicon = await client.get(f"{listener.redirect_uri}favicon.ico")
            done = await client.get(
                listener.redirect_uri, params={"code": "c", "state": "the-state"}
            )
            again = await client.get(
                listener.redirect_uri, params={"code": "x", "state": "the-state"}
            )
        answer = await listener.wait(5)
    assert favicon.status_code == 404 and done.status_code == 200 and again.status_code == 404
    assert _query(answer) == {"code": "c", "state": "the-state"}
