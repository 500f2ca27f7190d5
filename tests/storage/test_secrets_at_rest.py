"""A remembered password, used for a real login and send, never rests in clear anywhere."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import traceback
from email.message import EmailMessage
from pathlib import Path

import pytest

from core.errors import MailerError
from core.models import Secret
from core.transport import SMTPTransport
from tests.certs import CertSet
from tests.smtpd import USER, Recorder, ServerHandle
from ui.cli import build_parser
from ui.cli.common import CommandError, resolve_account

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "Sentinel-" + os.urandom(9).hex() + "-Ünï"
PASSPHRASE = "sentinel test passphrase"
SERVER_LOGGER = "mail.log"  # aiosmtpd's own logger: the test server, not the app


def needles(secret: str, *, user: str | None = None) -> dict[str, bytes]:
    """Every form in which `secret` could leak: text, UTF-16, hex, base64 at any alignment."""
    raw = secret.encode("utf-8")
    found = {
        "utf-8": raw,
        "utf-16-le": secret.encode("utf-16-le"),
        "utf-16-be": secret.encode("utf-16-be"),
        "hex": raw.hex().encode(),
    }
    for shift in range(3):  # base64 of the secret inside any longer byte string
        encoded = base64.b64encode(b"\0" * shift + raw)
        found[f"base64+{shift}"] = encoded[4 if shift else 0 : -4]
        found[f"urlsafe-base64+{shift}"] = base64.urlsafe_b64encode(b"\0" * shift + raw)[
            4 if shift else 0 : -4
        ]
    if user is not None:
        found["auth-plain"] = base64.b64encode(b"\0" + user.encode() + b"\0" + raw)
        found["auth-plain-authzid"] = base64.b64encode(
            user.encode() + b"\0" + user.encode() + b"\0" + raw
        )
    return found


def leaks(blob: bytes, forms: dict[str, bytes]) -> list[str]:
    return [name for name, needle in forms.items() if needle in blob]


def cli(home: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "NICEGUI"))}
    clean.pop("BULKMAILER_SMTP_PASSWORD", None)
    clean.pop("BULKMAILER_PASSPHRASE", None)
    clean |= {
        "BULKMAILER_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",  # this machine has none
        **env,
    }
    return subprocess.run(
        [sys.executable, "main.py", *argv],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def message() -> bytes:
    msg = EmailMessage()
    msg["From"] = USER
    msg["To"] = "bob@example.com"
    msg["Subject"] = "sentinel check"
    msg.set_content("Hello Bob.")
    return msg.as_bytes()


class _NotATerminal:
    def isatty(self) -> bool:
        return False


async def test_a_remembered_password_never_rests_in_clear(
    data_home: Path,
    certs: CertSet,
    recorder: Recorder,
    starttls_server: ServerHandle,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    recorder.users = {USER: SENTINEL}
    forms = needles(SENTINEL, user=USER) | {
        f"passphrase {k}": v for k, v in needles(PASSPHRASE).items()
    }
    outputs: list[bytes] = []

    # 1. Save the account through the real CLI, password from the environment.
    saved = cli(
        data_home,
        "account", "save", "local",
        "--host", "localhost",
        "--port", str(starttls_server.port),
        "--security", "starttls",
        "--user", USER,
        "--from", USER,
        "--ca-file", str(certs.ca_file),
        "--remember-password",
        BULKMAILER_SMTP_PASSWORD=SENTINEL,
        BULKMAILER_PASSPHRASE=PASSPHRASE,
    )  # fmt: skip
    outputs += [saved.stdout, saved.stderr]
    assert saved.returncode == 0, saved.stderr.decode()
    listed = cli(data_home, "account", "list")
    outputs += [listed.stdout, listed.stderr]
    assert b"local: localhost" in listed.stdout
    assert b"password saved" in listed.stdout
    vault_header = json.loads((data_home / "vault.json").read_text("utf-8"))["key"]
    assert vault_header["source"] == "passphrase"  # no real keyring here, and never plaintext

    # 2. Use it: the password comes from the vault (no SMTP password in the environment).
    monkeypatch.setattr("sys.stdin", _NotATerminal())
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)
    args = build_parser().parse_args(["verify", "--account", "local"])
    account, credentials = resolve_account(args)
    assert credentials.password == Secret(SENTINEL)
    transport = SMTPTransport(account, credentials)
    await transport.connect()
    await transport.send(USER, "bob@example.com", message())
    await transport.close()
    assert recorder.auth_attempts[-1] == (USER, recorder.auth_attempts[-1][1], True)
    assert recorder.recipients() == ["bob@example.com"]

    # 3. A failing login with the same secret: the error must not carry it either.
    recorder.users = {USER: "something else"}
    errors: list[BaseException] = []
    failing = SMTPTransport(account, credentials)
    with pytest.raises(MailerError) as caught:
        await failing.connect()
    errors.append(caught.value)
    await failing.close(polite=False)
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", "not the passphrase")
    with pytest.raises(CommandError) as wrong:
        resolve_account(args)
    errors.append(wrong.value)

    # 4. Scan everything.
    files = [p for p in data_home.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"settings.json", "vault.json"}
    for path in files:
        assert leaks(path.read_bytes(), forms) == [], path.name
    for output in outputs:
        assert leaks(output, forms) == []
    assert caplog.records  # at least the test server logged the session
    for record in caplog.records:
        if record.name.startswith(SERVER_LOGGER):
            continue
        text = f"{record.getMessage()} {record.exc_text or ''}".encode()
        assert leaks(text, forms) == [], record.name
    for error in errors:
        shown = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)
        assert leaks(shown.encode(), forms) == []
