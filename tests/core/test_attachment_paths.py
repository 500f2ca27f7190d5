"""Per-recipient attachments never pick hidden files; template files from elsewhere are listed."""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

import pytest

from core.address_fields import LiteralRecipient
from core.attachments import OutsideAttachment, attachments_outside, resolve_attachment
from core.errors import IssueKind, MergeError
from core.models import Recipient, Template
from core.preflight import preflight


@pytest.mark.parametrize(
    "value", [".ssh/id_rsa", "inv/.secret.pdf", ".env", "inv\\.git\\config", "./.netrc"]
)
def test_per_recipient_path_with_a_hidden_part_is_refused(tmp_path: Path, value: str) -> None:
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").write_text("key")
    with pytest.raises(MergeError) as caught:
        resolve_attachment(tmp_path, value, from_data=True)
    assert caught.value.kind is IssueKind.UNSAFE_PATH
    assert "hidden" in caught.value.message


def test_per_recipient_path_through_a_link_to_a_hidden_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".ssh").mkdir()
    os.symlink(tmp_path / ".ssh", tmp_path / "keys")
    with pytest.raises(MergeError, match="hidden"):
        resolve_attachment(tmp_path, "keys/id_rsa", from_data=True)


def test_per_recipient_plain_paths_still_resolve(tmp_path: Path) -> None:
    assert resolve_attachment(tmp_path, "./inv/a.b.pdf", from_data=True) == (
        tmp_path.resolve() / "inv" / "a.b.pdf"
    )


def test_template_attachments_outside_its_folder_are_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "campaign"
    (folder / "docs").mkdir(parents=True)
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    os.symlink(tmp_path, folder / "up")
    names = ["docs/brochure.pdf", "/etc/hostname", "~/.ssh/id_rsa", "../x.pdf", "up/y.pdf", " "]
    assert attachments_outside(folder, names) == (
        OutsideAttachment("/etc/hostname", Path("/etc/hostname")),
        OutsideAttachment("~/.ssh/id_rsa", home.resolve() / ".ssh" / "id_rsa"),
        OutsideAttachment("../x.pdf", tmp_path.resolve() / "x.pdf"),
        OutsideAttachment("up/y.pdf", tmp_path.resolve() / "y.pdf"),
    )
    assert attachments_outside(folder, ["docs/brochure.pdf"]) == ()


def test_preflight_lists_outside_files_and_the_templates_own_recipients(tmp_path: Path) -> None:
    folder = tmp_path / "campaign"
    folder.mkdir()
    (tmp_path / "terms.pdf").write_bytes(b"%PDF")
    template = Template(
        subject="s", body="b", attachments=("../terms.pdf",), bcc=("archive@example.org",)
    )
    row = Recipient(email="a@example.com", fields=MappingProxyType({}), line=2)
    report = preflight(template, [row], base_dir=folder, max_attachment_bytes=10**6)
    assert report.ok
    assert report.outside_attachments == (
        OutsideAttachment("../terms.pdf", tmp_path.resolve() / "terms.pdf"),
    )
    assert report.extra_recipients == (LiteralRecipient("bcc[0]", "archive@example.org"),)
