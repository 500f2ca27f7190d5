"""Provider presets as pure data: host, port, security, login notes and documented limits."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import SMTP_STARTTLS_PORT, SMTP_TLS_PORT, AuthMethod, OAuthProvider, Security

__all__ = ["PRESETS", "Preset", "get_preset", "preset_for_host"]


_PERSONAL = (
    "One connection: a personal mailbox is not a relay; several parallel logins look like "
    "abuse and the provider limits them."
)
_RELAY = (
    "Relays allow and expect several connections (their documentation names 5 to 50); the "
    "rate holds for all of them together."
)


@dataclass(frozen=True, slots=True)
class Preset:
    """What a person would otherwise look up on the provider's help pages."""

    key: str
    name: str
    host: str
    port: int
    security: Security
    auth_notes: str
    daily_cap: int | None = None  # messages (or recipients) per rolling 24 h
    per_minute_cap: int | None = None
    limits_note: str = ""
    limits_official: bool = True  # False: a figure reported by users, not documented
    auth: AuthMethod = AuthMethod.AUTO
    host_needs_region: bool = False  # the host contains a placeholder such as {region}
    sign_in: OAuthProvider | None = None  # "Sign in with Google / Microsoft" offered
    # Parallel connections: relays allow and expect several; a personal mailbox gets one.
    connections: int = 1  # suggested
    max_connections: int = 1  # the most this provider should see from one campaign
    delay_ms: int | None = None  # suggested delay (0 for relays: the rate paces instead)
    rate_per_minute: float | None = None  # suggested rate, all connections together
    connections_note: str = _PERSONAL


_RELAY_CONNECTIONS = 4
_RELAY_MAX_CONNECTIONS = 20

PRESETS: tuple[Preset, ...] = (
    Preset(
        key="gmail",
        name="Gmail",
        host="smtp.gmail.com",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="Sign in with Google, or use an app password (turn on 2-Step Verification, "
        "then Google Account > Security > App passwords). Your normal password is refused "
        "with 535 5.7.8.",
        daily_cap=500,
        limits_note="About 500 recipients per day for a personal account.",
        sign_in=OAuthProvider.GOOGLE,
    ),
    Preset(
        key="google-workspace",
        name="Google Workspace",
        host="smtp.gmail.com",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="Use an app password, or OAuth if your admin turned app passwords off.",
        daily_cap=2000,
        limits_note="2,000 messages per user per rolling 24 hours.",
        sign_in=OAuthProvider.GOOGLE,
    ),
    Preset(
        key="outlook",
        name="Outlook.com / Hotmail",
        host="smtp-mail.outlook.com",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="Microsoft has turned basic authentication off for many accounts: a reply "
        "of 535 5.7.139 means you need OAuth (XOAUTH2) or an app password.",
        daily_cap=300,
        limits_note="About 300 recipients per day (not officially documented).",
        limits_official=False,
        sign_in=OAuthProvider.MICROSOFT,
    ),
    Preset(
        key="microsoft-365",
        name="Microsoft 365",
        host="smtp.office365.com",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="SMTP AUTH must be enabled for the mailbox; 535 5.7.139 means basic "
        "authentication is disabled and OAuth (XOAUTH2) is needed.",
        daily_cap=10000,
        per_minute_cap=30,
        limits_note="30 messages per minute and 10,000 recipients per day.",
        sign_in=OAuthProvider.MICROSOFT,
        connections_note="One connection: Microsoft 365 counts a mailbox's messages per minute "
        "and throttles parallel SMTP sessions; the per-minute limit paces the campaign.",
    ),
    Preset(
        key="yahoo",
        name="Yahoo Mail",
        host="smtp.mail.yahoo.com",
        port=SMTP_TLS_PORT,
        security=Security.TLS,
        auth_notes="Needs an app password (Account security > Generate app password).",
        daily_cap=500,
        limits_note="About 500 messages per day (not officially documented).",
        limits_official=False,
    ),
    Preset(
        key="icloud",
        name="iCloud Mail",
        host="smtp.mail.me.com",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="Needs an app-specific password (appleid.apple.com > Sign-In and Security). "
        "The user name is your full iCloud address.",
        daily_cap=1000,
        limits_note="1,000 recipients per day.",
    ),
    Preset(
        key="zoho",
        name="Zoho Mail",
        host="smtp.zoho.com",
        port=SMTP_TLS_PORT,
        security=Security.TLS,
        auth_notes="Use an app-specific password when two-factor authentication is on. "
        "EU accounts use smtp.zoho.eu.",
        limits_note="Depends on the plan; see Zoho's sending limits page.",
    ),
    Preset(
        key="amazon-ses",
        name="Amazon SES",
        host="email-smtp.{region}.amazonaws.com",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="Use SMTP credentials created in the SES console (not your AWS keys). "
        "Replace {region} with your region, for example us-east-1.",
        limits_note="Per account quota shown in the SES console (sandbox: 200 per day, "
        "1 per second; production starts at 14 per second).",
        host_needs_region=True,
        connections=_RELAY_CONNECTIONS,
        max_connections=_RELAY_MAX_CONNECTIONS,
        delay_ms=0,
        rate_per_minute=14 * 60,
        connections_note=_RELAY + " Set the rate to your account's maximum send rate.",
    ),
    Preset(
        key="sendgrid",
        name="SendGrid",
        host="smtp.sendgrid.net",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="User name is the word 'apikey'; the password is your API key.",
        limits_note="Depends on the plan (free: 100 per day).",
        connections=_RELAY_CONNECTIONS,
        max_connections=_RELAY_MAX_CONNECTIONS,
        delay_ms=0,
        rate_per_minute=600,
        connections_note=_RELAY,
    ),
    Preset(
        key="mailgun",
        name="Mailgun",
        host="smtp.mailgun.org",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="Use the SMTP credentials of your sending domain. EU: smtp.eu.mailgun.org.",
        limits_note="Depends on the plan.",
        connections=_RELAY_CONNECTIONS,
        max_connections=_RELAY_MAX_CONNECTIONS,
        delay_ms=0,
        rate_per_minute=600,
        connections_note=_RELAY,
    ),
    Preset(
        key="custom",
        name="Custom server",
        host="",
        port=SMTP_STARTTLS_PORT,
        security=Security.STARTTLS,
        auth_notes="Port 587 uses STARTTLS, port 465 implicit TLS. Ask your admin for the "
        "host and whether it uses a company certificate authority.",
        max_connections=_RELAY_MAX_CONNECTIONS,
        connections_note="A company relay (Postfix, Exchange) usually allows several "
        "connections: ask your admin before raising it.",
    ),
)

_BY_KEY = {preset.key: preset for preset in PRESETS}


def get_preset(key: str) -> Preset:
    """The preset with this key (case-insensitive); KeyError names the choices."""
    try:
        return _BY_KEY[key.strip().lower()]
    except KeyError:
        choices = ", ".join(sorted(_BY_KEY))
        raise KeyError(f"unknown preset {key!r}; choose one of: {choices}") from None


def preset_for_host(host: str) -> Preset | None:
    """The first preset whose host matches (for hints when the user typed the host by hand)."""
    host = host.strip().lower()
    for preset in PRESETS:
        if preset.host and preset.host == host:
            return preset
    return None
