"""A local server that behaves like the Gmail API's `users.messages.send` (media upload).

It checks the bearer token against the local OAuth server, answers 401 to an expired one, and
plays scripted faults with Google's real JSON error shapes: 429, 403 rateLimitExceeded /
userRateLimitExceeded / dailyLimitExceeded, 400, 500/502/503/504, and a response dropped
after the whole body was read (the message was sent, the reply lost).
"""

from __future__ import annotations

import email
import email.policy
import secrets
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from tests.httpserver import HTTPServerHandle, Request, Response, json_response, start_http_server
from tests.oauth_server import OAuthServer

__all__ = ["SEND_PATH", "GmailAPIServer", "Sent", "start_gmail_api_server"]

SEND_PATH = "/upload/gmail/v1/users/me/messages/send"
SEND_SCOPES = ("https://www.googleapis.com/auth/gmail.send", "https://mail.google.com/")


def _google_error(code: int, status: str, message: str, reason: str, domain: str) -> object:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status,
        }
    }


# Fault name -> (HTTP status, body, whether the message was sent anyway)
FAULTS: dict[str, tuple[int, object, bool]] = {
    "429": (
        429,
        _google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Too many concurrent requests for user.",
            "rateLimitExceeded",
            "global",
        ),
        False,
    ),
    "403-rate": (
        403,
        _google_error(
            403, "PERMISSION_DENIED", "Rate Limit Exceeded", "rateLimitExceeded", "usageLimits"
        ),
        False,
    ),
    "403-user-rate": (
        403,
        _google_error(
            403,
            "PERMISSION_DENIED",
            "User-rate limit exceeded.  Retry after 2026-12-02T05:00:00.000Z",
            "userRateLimitExceeded",
            "usageLimits",
        ),
        False,
    ),
    "403-daily": (
        403,
        _google_error(
            403, "PERMISSION_DENIED", "Daily Limit Exceeded", "dailyLimitExceeded", "usageLimits"
        ),
        False,
    ),
    "400": (
        400,
        _google_error(400, "INVALID_ARGUMENT", "Invalid To header", "invalidArgument", "global"),
        False,
    ),
    "500": (500, _google_error(500, "INTERNAL", "Backend Error", "backendError", "global"), True),
    "502": (502, {"error": {"code": 502, "message": "Bad Gateway"}}, True),
    "503": (
        503,
        _google_error(
            503, "UNAVAILABLE", "The service is currently unavailable.", "backendError", "global"
        ),
        False,
    ),
    "504": (504, {"error": {"code": 504, "message": "Gateway Timeout"}}, True),
}
UNAUTHENTICATED = _google_error(
    401,
    "UNAUTHENTICATED",
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential.",
    "authError",
    "global",
)


@dataclass
class Sent:
    """One message the server accepted (and, for Gmail, sent)."""

    sender: str
    raw: bytes
    id: str

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message

    def recipients(self) -> list[str]:
        message = self.parsed()
        found: list[str] = []
        for name in ("To", "Cc", "Bcc"):
            header = message.get(name)
            if header is not None:
                found += [a.addr_spec for a in header.addresses]
        return found


@dataclass
class GmailAPIServer:
    oauth: OAuthServer
    faults: list[str] = field(default_factory=list)  # one per request, in order; "" = none
    sent: list[Sent] = field(default_factory=list)
    requests: int = 0
    unauthorized: int = 0
    handle: HTTPServerHandle | None = None

    @property
    def url(self) -> str:
        assert self.handle is not None
        return self.handle.url

    def __call__(self, request: Request) -> Response:
        if request.method != "POST" or request.path != SEND_PATH:
            return json_response(
                404, _google_error(404, "NOT_FOUND", "Not Found", "notFound", "global")
            )
        self.requests += 1
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        user = self.oauth.check_bearer(token, *SEND_SCOPES)
        if user is None:
            self.unauthorized += 1
            return json_response(
                401,
                UNAUTHENTICATED,
                **{"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if request.query.get("uploadType") != "media":
            return json_response(
                400, _google_error(400, "INVALID_ARGUMENT", "Bad Request", "badRequest", "global")
            )
        if request.headers.get("content-type", "").split(";")[0].strip() != "message/rfc822":
            return json_response(
                400,
                _google_error(
                    400, "INVALID_ARGUMENT", "Media type not supported", "badContent", "global"
                ),
            )
        fault = self.faults.pop(0) if self.faults else ""
        if fault == "revoke":  # the person removed the app's access just now
            self.oauth.revoke_all()
            self.unauthorized += 1
            return json_response(401, UNAUTHENTICATED)
        if fault == "drop":  # sent, then the connection breaks before the reply
            self._store(user, request.body)
            return Response(drop=True)
        if fault.startswith("429-retry-after="):  # a 429 saying how long to wait
            status, body, _ = FAULTS["429"]
            return json_response(status, body, **{"Retry-After": fault.split("=", 1)[1]})
        if fault:
            status, body, sent_anyway = FAULTS[fault]
            if sent_anyway:
                self._store(user, request.body)
            return json_response(status, body)
        sent = self._store(user, request.body)
        return json_response(200, {"id": sent.id, "threadId": sent.id, "labelIds": ["SENT"]})

    def _store(self, user: str, raw: bytes) -> Sent:
        sent = Sent(user, raw, secrets.token_hex(8))
        self.sent.append(sent)
        return sent


async def start_gmail_api_server(
    oauth: OAuthServer, *, ssl_context: ssl.SSLContext | None = None
) -> GmailAPIServer:
    server = GmailAPIServer(oauth)
    server.handle = await start_http_server(server, ssl_context=ssl_context)
    return server
