"""The connection check as Markdown for a support request: steps, timings, hints; redacted."""

from __future__ import annotations

import base64
import datetime as dt
import re

from core.diagnose import Diagnosis
from core.transport.certinfo import CertInfo

__all__ = ["REDACTED", "REDACTED_USER", "redact", "report_markdown"]

REDACTED = "[secret]"
REDACTED_USER = "[user]"
_LOCAL_PART_EDGE = r"[\w.+\-]"  # characters that may continue a local part


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _local_parts(diagnosis: Diagnosis) -> list[str]:
    account = diagnosis.account
    proxy_user = diagnosis.proxy.proxy.username if diagnosis.proxy else None
    parts = []
    for name in (account.username, account.sender, proxy_user):
        if name:
            parts.append(name.rpartition("@")[0] if "@" in name else name)
    return sorted({part for part in parts if part}, key=len, reverse=True)


def redact(text: str, diagnosis: Diagnosis) -> str:
    """`text` without any secret the check used (nor its base64 forms) or the user's local part.

    The local parts of the user name, the sender and the proxy's user become `[user]`, the
    domain stays (it tells the helper which provider); every password, token and proxy
    password becomes `[secret]`.
    """
    users = _local_parts(diagnosis)
    user = diagnosis.account.username or ""
    for secret in diagnosis.secrets:
        value = secret.reveal()
        forms = {value, _b64(value), _b64(f"\0{user}\0{value}"), _b64(f"{user}\0{value}")}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, REDACTED)
    for local in users:
        text = text.replace(_b64(local), REDACTED_USER)
        pattern = rf"(?<!{_LOCAL_PART_EDGE}){re.escape(local)}(?![\w+\-]|\.\w)"
        text = re.sub(pattern, REDACTED_USER, text, flags=re.IGNORECASE)
    return text


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _certificate(cert: CertInfo) -> list[str]:
    return [
        f"- Certificate subject: {cert.subject or '(none)'}",
        f"- Certificate issuer: {cert.issuer or '(none)'}",
        f"- Certificate valid: {_when(cert.not_before)} to {_when(cert.not_after)}",
    ]


def _server(diagnosis: Diagnosis) -> list[str]:
    session = diagnosis.session
    if session is None:
        return ["- Nothing was learned about the server."]
    lines = []
    if session.greeting:
        lines.append(f"- Greeting: `{_cell(session.greeting)}`")
    if session.extensions:
        keywords = ", ".join(
            f"{name.upper()} {value}".strip() for name, value in sorted(session.extensions.items())
        )
        lines.append(f"- EHLO keywords: {keywords}")
    if session.encrypted:
        lines.append(f"- TLS: {session.tls_version}, cipher {session.cipher}")
    else:
        lines.append("- TLS: not established")
    if session.certificate is not None:
        lines += _certificate(session.certificate)
    if session.auth_mechanism:
        lines.append(f"- Logged in with: AUTH {session.auth_mechanism.upper()}")
    return lines or ["- Nothing was learned about the server."]


def report_markdown(diagnosis: Diagnosis) -> str:
    """The whole check as Markdown, ready to paste into a support request; nothing secret."""
    account = diagnosis.account
    failed = next((step for step in diagnosis.steps if not step.ok), None)
    result = "passed" if diagnosis.ok else f"failed at **{failed.name if failed else '?'}**"
    checked = dt.datetime.fromtimestamp(diagnosis.started_at, dt.UTC)
    tls = account.tls
    certificates = "verified" if tls.verify else "NOT verified (turned off)"
    if tls.ca_paths:
        certificates += f", pinned CA: {len(tls.ca_paths)} file(s) or folder(s)"
    if tls.server_name:
        certificates += f", expected name {tls.server_name}"
    lines = [
        "## Bulk Mailer connection check",
        "",
        f"- Result: {result}",
        f"- Checked: {_when(checked)}",
        f"- Server: {account.host}:{account.port}, security {account.security.value.upper()}",
        f"- Login: {account.username or '(none)'}, method {account.auth.value.upper()}",
        f"- Sender: {account.sender}",
        f"- Certificates: {certificates}",
        f"- Proxy: {diagnosis.proxy.describe() if diagnosis.proxy else 'none'}",
        "",
        "### Steps",
        "",
        "| # | Step | Result | Time | Detail |",
        "|---|------|--------|-----:|--------|",
    ]
    for number, step in enumerate(diagnosis.steps, 1):
        mark = "ok" if step.ok else "FAILED"
        took = f"{step.seconds * 1000:.0f} ms"
        lines.append(f"| {number} | {step.name} | {mark} | {took} | {_cell(step.detail)} |")
    hints = [step for step in diagnosis.steps if step.hint]
    if hints:
        lines += ["", "### Hints", ""]
        lines += [f"- **{step.name}**: {step.hint}" for step in hints]
    lines += ["", "### Server", "", *_server(diagnosis), ""]
    return redact("\n".join(lines), diagnosis)
