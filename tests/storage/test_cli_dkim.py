"""`dkim generate|import|show|remove`, and `send` signing with the account's key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from main import main
from tests.conftest import Start
from tests.dns_server import LocalDNS, local_dns
from tests.storage.test_dkim_keys import dnsfunc
from tests.ui.test_cli import files, plain_args

__all__ = ["files"]  # the pytest fixture used below

PASSPHRASE = "script passphrase 42"


@pytest.fixture(autouse=True)
def script_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULKMAILER_PASSPHRASE", PASSPHRASE)


@pytest.fixture
def dns_server() -> Iterator[LocalDNS]:
    with local_dns() as server:
        yield server


def save_account(port: int = 2525) -> None:
    argv = ["account", "save", "news", "--host", "127.0.0.1", "--port", str(port)]
    assert main([*argv, "--security", "none", "--from", "news@example.com"]) == 0


def printed_zone_line(out: str) -> str:
    return next(line for line in out.splitlines() if "Zone file:" in line).split("Zone file: ")[1]


def test_generate_prints_the_record_and_show_prints_it_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    save_account()
    assert main(["dkim", "generate", "--account", "news", "--selector", "s1"]) == 0
    out = capsys.readouterr().out
    assert "Name:  s1._domainkey.example.com" in out
    assert "Value: v=DKIM1; k=rsa; p=" in out
    assert main(["dkim", "show", "--account", "news"]) == 0
    again = capsys.readouterr().out
    assert printed_zone_line(again) == printed_zone_line(out)
    assert "rsa-sha256, d=example.com, s=s1" in again


def test_generate_twice_needs_replace(capsys: pytest.CaptureFixture[str]) -> None:
    save_account()
    assert main(["dkim", "generate", "--account", "news", "--selector", "s1"]) == 0
    assert main(["dkim", "generate", "--account", "news", "--selector", "s2"]) == 2
    assert "--replace" in capsys.readouterr().err
    assert main(["dkim", "generate", "--account", "news", "--selector", "s2", "--replace"]) == 0


def test_unknown_account_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dkim", "generate", "--account", "nobody", "--selector", "s1"]) == 2
    assert "no saved account named 'nobody'" in capsys.readouterr().err


def test_remove_then_show_says_unsigned(capsys: pytest.CaptureFixture[str]) -> None:
    save_account()
    assert main(["dkim", "generate", "--account", "news", "--selector", "s1", "--ed25519"]) == 0
    assert main(["dkim", "remove", "--account", "news"]) == 0
    assert main(["dkim", "show", "--account", "news"]) == 1
    assert "unsigned" in capsys.readouterr().out


def test_an_account_with_a_key_signs_every_message_it_sends(
    servers: Start,
    files: tuple[Path, Path],
    dns_server: LocalDNS,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handle = servers("plain", auth=False)
    save_account(handle.port)
    assert main(["dkim", "generate", "--account", "news", "--selector", "s1", "--ed25519"]) == 0
    dns_server.add(printed_zone_line(capsys.readouterr().out))
    database, template = files
    argv = ["send", "--recipients", str(database), "--template", str(template)]
    code = main([*argv, "--account", "news", *plain_args(handle), "--delay-ms", "0", "--yes"])
    assert code == 0, capsys.readouterr()
    payloads = [message.original_content for message in handle.recorder.messages]
    assert len(payloads) == 2
    for payload in payloads:
        assert payload.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;")
        assert dkim.verify(
            payload.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"), dnsfunc=dnsfunc(dns_server)
        )


def test_import_an_ed25519_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_account()
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pem)
    argv = ["dkim", "import", "--account", "news", "--selector", "old", "--key", str(key_file)]
    assert main(argv) == 0
    assert "k=ed25519" in capsys.readouterr().out
