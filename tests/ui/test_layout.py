"""The shared frame: header, navigation to every screen, client-side routing."""

from __future__ import annotations

import pytest
from nicegui.testing import User

from ui.web.app import SCREENS, routes


async def test_home_shows_header_and_every_navigation_link(user: User) -> None:
    await user.open("/")
    await user.should_see(marker="app-title")
    await user.should_see("Bulk Mailer")
    for screen in SCREENS:
        await user.should_see(marker=screen.nav.marker)
        await user.should_see(screen.nav.title)


def test_navigation_covers_the_seven_screens() -> None:
    assert [screen.nav.path for screen in SCREENS] == [
        "/accounts",
        "/recipients",
        "/compose",
        "/send",
        "/history",
        "/outbox",
        "/deliverability",
    ]
    assert SCREENS[0].nav.marker == "nav-accounts"
    assert "/outbox/{message_id}" in routes()


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: s.nav.title)
async def test_each_screen_opens_inside_the_frame(user: User, screen: object) -> None:
    path = screen.nav.path  # type: ignore[attr-defined]
    title = screen.nav.title  # type: ignore[attr-defined]
    await user.open(path)
    await user.should_see(marker="app-header")
    await user.should_see(marker="nav-drawer")
    await user.should_see(title, marker="screen-title")


async def test_navigation_link_switches_the_screen(user: User) -> None:
    await user.open("/")
    await user.should_see("where things stand")
    user.find(marker="nav-outbox").click()
    await user.should_see(marker="outbox-table")
    await user.should_not_see("where things stand")


async def test_unknown_path_answers_404_inside_the_frame(user: User) -> None:
    response = await user.http_client.get("/no-such-screen")
    assert response.status_code == 404
    assert "sub page /no-such-screen not found" in response.text
    assert "Bulk Mailer" in response.text  # the frame is still there
