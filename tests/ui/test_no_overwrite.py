"""Work is never overwritten without asking: a second list can be added or replace the first,
and a sample template asks before it replaces a written message."""

from __future__ import annotations

from nicegui.testing import User

from tests.ui.screen import until, upload
from ui.services.state import get_state

FIRST = "email,name\nann@example.com,Ann\nbob@example.org,Bob\n"
SECOND = "email,city\nBOB@example.org,Paris\ncid@example.net,Oslo\n"


async def _upload(user: User, name: str, text: str) -> None:
    await upload(user, "recipients-upload", name, text.encode(), "text/csv")


async def test_a_second_upload_asks_and_can_be_added_to_the_list(user: User) -> None:
    await user.open("/recipients")
    await _upload(user, "first.csv", FIRST)
    await user.should_see("2 recipients", marker="recipients-summary", retries=50)

    await _upload(user, "second.csv", SECOND)
    await user.should_see(marker="recipients-merge-add", retries=50)
    user.find(marker="recipients-merge-add").click()
    await user.should_see("3 recipients", marker="recipients-summary", retries=50)
    report = get_state().draft.recipients
    assert report is not None
    assert [r.email for r in report.recipients] == [
        "ann@example.com",
        "bob@example.org",
        "cid@example.net",
    ]
    assert report.columns == ("email", "name", "city")  # united
    (dropped,) = report.duplicates
    assert (dropped.email, dropped.line, dropped.source) == ("BOB@example.org", 2, "second.csv")


async def test_a_second_list_can_replace_or_be_cancelled(user: User) -> None:
    await user.open("/recipients")
    await _upload(user, "first.csv", FIRST)
    await user.should_see("2 recipients", marker="recipients-summary", retries=50)
    user.find(marker="recipients-sample").click()
    await user.should_see(marker="recipients-merge-cancel", retries=50)
    user.find(marker="recipients-merge-cancel").click()
    await user.should_not_see(marker="recipients-merge-cancel", retries=50)
    report = get_state().draft.recipients
    assert report is not None and report.source == "first.csv"  # kept as it was

    user.find(marker="recipients-paste").type("dan@example.com")
    user.find(marker="recipients-paste-import").click()
    await user.should_see(marker="recipients-merge-replace", retries=50)
    user.find(marker="recipients-merge-replace").click()
    await user.should_see("1 recipient", marker="recipients-summary", retries=50)
    report = get_state().draft.recipients
    assert report is not None and [r.email for r in report.recipients] == ["dan@example.com"]


async def test_the_sample_template_asks_before_replacing_a_written_message(user: User) -> None:
    await user.open("/compose")
    user.find(marker="compose-subject").type("My own subject")
    user.find("Load the sample template").click()
    await user.should_see(marker="compose-replace-cancel", retries=50)
    user.find(marker="compose-replace-cancel").click()
    await user.should_not_see(marker="compose-replace-cancel", retries=50)
    assert get_state().draft.template.subject == "My own subject"
    user.find("Load the sample template").click()
    await user.should_see(marker="compose-replace-ok", retries=50)
    user.find(marker="compose-replace-ok").click()
    await until(lambda: get_state().draft.template.subject != "My own subject")
