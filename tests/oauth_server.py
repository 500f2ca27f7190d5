"""A local OAuth 2.0 authorization server that enforces the protocol, for Google and Microsoft.

- Authorization code with PKCE S256 only, `state` required, loopback redirect URIs only, the
  same redirect URI required again at the token endpoint, codes usable once and for 10 minutes.
- Refresh grant; revoked or expired refresh tokens get `invalid_grant` as Google words it.
- Microsoft's device code grant: `authorization_pending`, `slow_down`, `expired_token`.
- Short-lived access tokens checked by the SMTP (XOAUTH2) and Gmail API test servers.

Paths: Google-style `/o/oauth2/auth` and `/token`; Microsoft-style
`/{tenant}/oauth2/v2.0/authorize|token|devicecode`. Time comes from `clock` (a fake in tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.httpserver import HTTPServerHandle, Request, Response, json_response, start_http_server

__all__ = ["GOOGLE_CLIENT", "MICROSOFT_CLIENT", "OAuthServer", "start_oauth_server"]

GOOGLE_CLIENT = "1234-desktop.apps.googleusercontent.com"
GOOGLE_SECRET = "GOCSPX-test-secret"
MICROSOFT_CLIENT = "00000000-aaaa-bbbb-cccc-000000000001"
USER_EMAIL = "alice@example.com"
CODE_LIFETIME = 600.0
DEVICE_LIFETIME = 900.0
DEVICE_INTERVAL = 5
SLOW_DOWN_STEP = 5
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OIDC_SCOPES = {"openid", "email", "profile", "offline_access"}


@dataclass
class Client:
    client_id: str
    secret: str | None  # None: a public client (Microsoft desktop registration)
    loopback_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    scope: str
    expires_at: float | None
    revoked: bool = False


@dataclass
class _Access:
    email: str
    scope: str
    expires_at: float


@dataclass
class _Device:
    client_id: str
    scope: str
    user_code: str
    expires_at: float
    interval: int = DEVICE_INTERVAL
    last_poll: float | None = None
    polls: int = 0
    approved: bool = False
    denied: bool = False
    done: bool = False


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _error(error: str, description: str, status: int = 400) -> Response:
    return json_response(status, {"error": error, "error_description": description})


@dataclass
class OAuthServer:
    """The server's state; `handle` is its HTTP face once started."""

    clock: Callable[[], float] = time.time
    email: str = USER_EMAIL
    access_lifetime: int = 3600
    refresh_lifetime: float | None = None  # None: until revoked (Google "In production")
    rotate_refresh: bool = False  # Microsoft hands out a new refresh token on each refresh
    deny: bool = False  # the person clicks "Cancel" on the consent screen
    device_interval: int = DEVICE_INTERVAL
    approve_on_poll: int | None = None  # the person enters the code before this poll (1 = first)
    clients: dict[str, Client] = field(
        default_factory=lambda: {
            GOOGLE_CLIENT: Client(GOOGLE_CLIENT, GOOGLE_SECRET),
            MICROSOFT_CLIENT: Client(MICROSOFT_CLIENT, None),
        }
    )
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh_tokens: dict[str, _Refresh] = field(default_factory=dict)
    access_tokens: dict[str, _Access] = field(default_factory=dict)
    devices: dict[str, _Device] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)  # grant types served, in order
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    handle: HTTPServerHandle | None = None
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    # -- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.handle is not None
        return self.handle.url

    def authority(self, tenant: str = "common") -> str:
        return f"{self.url}/{tenant}"

    def client_secrets_file(self, path: Path) -> Path:
        """A Google `client_secret.json` for a Desktop app client, pointing here."""
        data = {
            "installed": {
                "client_id": GOOGLE_CLIENT,
                "project_id": "bulk-mailer-test",
                "auth_uri": f"{self.url}/o/oauth2/auth",
                "token_uri": f"{self.url}/token",
                "auth_provider_x509_cert_url": f"{self.url}/oauth2/v1/certs",
                "client_secret": GOOGLE_SECRET,
                "redirect_uris": ["http://localhost"],
            }
        }
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    # -- what the resource servers ask ------------------------------------------------------

    def check_bearer(self, token: str, *scopes: str) -> str | None:
        """The signed-in address if `token` is a live access token with one of `scopes`."""
        issued = self.access_tokens.get(token)
        if issued is None or issued.expires_at <= self.clock():
            return None
        granted = set(issued.scope.split())
        if scopes and not granted & set(scopes):
            return None
        return issued.email

    def revoke_all(self) -> None:
        """The person removed the app's access (or the 7-day Testing limit passed)."""
        for refresh in self.refresh_tokens.values():
            refresh.revoked = True
        self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        now = self.clock()
        for access in self.access_tokens.values():
            access.expires_at = min(access.expires_at, now)

    def approve_device(self, user_code: str) -> None:
        for device in self.devices.values():
            if device.user_code == user_code:
                device.approved = True
                return
        raise KeyError(user_code)

    # -- HTTP -----------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and path.endswith(("/o/oauth2/auth", "/oauth2/v2.0/authorize")):
            return self._authorize(request.query)
        if request.method == "POST" and path.endswith(("/token", "/oauth2/v2.0/token")):
            return self._token(request)
        if request.method == "POST" and path.endswith("/oauth2/v2.0/devicecode"):
            return self._devicecode(request.form())
        return Response(404, b"not found")

    def _authorize(self, query: dict[str, str]) -> Response:
        self.authorize_requests.append(dict(query))
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            return Response(400, b"Error 401: invalid_client (The OAuth client was not found.)")
        redirect = query.get("redirect_uri", "")
        parts = urlsplit(redirect)
        host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
        if parts.scheme != "http" or host not in client.loopback_hosts or not parts.port:
            return Response(400, b"Error 400: redirect_uri_mismatch")

        def back(**params: str) -> Response:
            if "state" in query:
                params["state"] = query["state"]
            return Response(302, b"", {"Location": f"{redirect}?{urlencode(params)}"})

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if not query.get("state"):
            return back(error="invalid_request", error_description="state is required")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE S256 is required")
        if self.deny:
            return back(error="access_denied")
        code = secrets.token_urlsafe(24)
        self.codes[code] = _Code(
            client.client_id,
            redirect,
            query["code_challenge"],
            query.get("scope", ""),
            self.clock() + CODE_LIFETIME,
        )
        return back(code=code)

    def _client_of(self, request: Request, form: dict[str, str]) -> Client | Response:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, secret = decoded.partition(":")
        client = self.clients.get(client_id or "")
        if client is None:
            return _error("invalid_client", "The OAuth client was not found.", 401)
        if client.secret is not None and not hmac.compare_digest(
            (secret or "").encode(), client.secret.encode()
        ):
            return _error("invalid_client", "Unauthorized", 401)
        return client

    def _token(self, request: Request) -> Response:
        form = request.form()
        client = self._client_of(request, form)
        if isinstance(client, Response):
            return client
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "authorization_code":
            return self._code_grant(client, form)
        if grant == "refresh_token":
            return self._refresh_grant(client, form)
        if grant == DEVICE_GRANT:
            return self._device_grant(client, form)
        return _error("unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _code_grant(self, client: Client, form: dict[str, str]) -> Response:
        code = self.codes.get(form.get("code", ""))
        if code is None or code.used or code.expires_at <= self.clock():
            return _error("invalid_grant", "Malformed auth code.")
        code.used = True
        if code.client_id != client.client_id:
            return _error("invalid_grant", "The code was issued to another client.")
        if form.get("redirect_uri") != code.redirect_uri:
            return _error("redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        if _b64url(hashlib.sha256(verifier.encode("ascii")).digest()) != code.challenge:
            return _error("invalid_grant", "Invalid code verifier.")
        return self._issue(client, code.scope, with_refresh=True)

    def _refresh_grant(self, client: Client, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        refresh = self.refresh_tokens.get(token)
        expired = refresh is not None and (
            refresh.expires_at is not None and refresh.expires_at <= self.clock()
        )
        if refresh is None or refresh.revoked or expired or refresh.client_id != client.client_id:
            return _error("invalid_grant", "Token has been expired or revoked.")
        if self.rotate_refresh:
            refresh.revoked = True
        return self._issue(client, refresh.scope, with_refresh=self.rotate_refresh)

    def _devicecode(self, form: dict[str, str]) -> Response:
        client = self.clients.get(form.get("client_id", ""))
        if client is None:
            return _error("invalid_client", "AADSTS700016: Application not found.", 400)
        device_code = secrets.token_urlsafe(32)
        user_code = secrets.token_hex(4).upper()
        self.devices[device_code] = _Device(
            client.client_id,
            form.get("scope", ""),
            user_code,
            self.clock() + DEVICE_LIFETIME,
            interval=self.device_interval,
        )
        uri = f"{self.url}/devicelogin"
        return json_response(
            200,
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": uri,
                "expires_in": int(DEVICE_LIFETIME),
                "interval": self.device_interval,
                "message": f"To sign in, use a web browser to open the page {uri} and enter "
                f"the code {user_code} to authenticate.",
            },
        )

    def _device_grant(self, client: Client, form: dict[str, str]) -> Response:
        device = self.devices.get(form.get("device_code", ""))
        if device is None or device.client_id != client.client_id or device.done:
            return _error("invalid_grant", "AADSTS70000: The provided value is not valid.")
        now = self.clock()
        if now >= device.expires_at:
            return _error("expired_token", "AADSTS70020: The provided value has expired.")
        too_soon = device.last_poll is not None and now - device.last_poll < device.interval
        device.last_poll = now
        device.polls += 1
        if self.approve_on_poll is not None and device.polls >= self.approve_on_poll:
            device.approved = True
        if too_soon:
            device.interval += SLOW_DOWN_STEP
            return _error("slow_down", "Polling too fast.")
        if device.denied:
            return _error("access_denied", "AADSTS70000: The user denied the request.")
        if not device.approved:
            return _error("authorization_pending", "AADSTS70016: Pending end-user authorization.")
        device.done = True
        return self._issue(client, device.scope, with_refresh=True)

    def _issue(self, client: Client, scope: str, *, with_refresh: bool) -> Response:
        now = self.clock()
        access = "ya29." + secrets.token_urlsafe(32)
        resource_scope = " ".join(s for s in scope.split() if s not in OIDC_SCOPES)
        self.access_tokens[access] = _Access(self.email, resource_scope, now + self.access_lifetime)
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": self.access_lifetime,
            "token_type": "Bearer",
            "scope": scope,
            "id_token": self._id_token(client, now),
        }
        if with_refresh:
            refresh = "1//" + secrets.token_urlsafe(40)
            expires = now + self.refresh_lifetime if self.refresh_lifetime is not None else None
            self.refresh_tokens[refresh] = _Refresh(client.client_id, scope, expires)
            body["refresh_token"] = refresh
        return json_response(200, body, **{"Cache-Control": "no-store"})

    def _id_token(self, client: Client, now: float) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": self.url,
            "aud": client.client_id,
            "sub": "1000001",
            "email": self.email,
            "email_verified": True,
            "preferred_username": self.email,
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        payload = _b64url(json.dumps(claims).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), "sha256").digest()
        return f"{header}.{payload}.{_b64url(signature)}"


async def start_oauth_server(server: OAuthServer | None = None) -> OAuthServer:
    """Start `server` (or a new one) on 127.0.0.1 and a free port."""
    server = server or OAuthServer()
    server.handle = await start_http_server(server)
    return server
