"""Attachment paths: per-recipient paths stay inside the campaign folder, authors' may not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.attachments import resolve_attachment
from core.errors import IssueKind, MergeError


def test_per_recipient_path_resolves_inside_base_dir(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    assert resolve_attachment(tmp_path, "inv/1.pdf", from_data=True) == (
        tmp_path.resolve() / "inv" / "1.pdf"
    )


@pytest.mark.parametrize(
    "value", ["/etc/passwd", "../secret.txt", "inv/../../secret", "~/x", "\\\\server\\share\\x"]
)
def test_per_recipient_path_may_not_leave_base_dir(tmp_path: Path, value: str) -> None:
    with pytest.raises(MergeError) as caught:
        resolve_attachment(tmp_path, value, from_data=True)
    assert caught.value.kind is IssueKind.UNSAFE_PATH


def test_per_recipient_path_through_symlink_out_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "base"
    base.mkdir()
    os.symlink(outside, base / "link")
    with pytest.raises(MergeError) as caught:
        resolve_attachment(base, "link/file.pdf", from_data=True)
    assert caught.value.kind is IssueKind.UNSAFE_PATH


def test_author_paths_may_be_absolute_or_relative(tmp_path: Path) -> None:
    assert resolve_attachment(tmp_path, "/srv/a.pdf", from_data=False) == Path("/srv/a.pdf")
    assert resolve_attachment(tmp_path, "a.pdf", from_data=False) == tmp_path / "a.pdf"
