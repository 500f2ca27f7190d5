"""Launch options: local only, a fresh token, and usage errors as exit codes."""

from __future__ import annotations

import socket

import pytest

from ui.web.launch import FAVICON, HOST, LaunchOptions, build_parser, free_port, launch


def test_options_offer_port_no_browser_and_native_but_no_host() -> None:
    options = {opt for action in build_parser()._actions for opt in action.option_strings}
    assert {"--port", "--no-browser", "--native"} <= options
    assert not any("host" in opt or "bind" in opt for opt in options)


def test_defaults_pick_a_free_port_and_open_the_browser() -> None:
    args = build_parser().parse_args([])
    assert args.port is None
    assert not args.no_browser
    assert not args.native


def test_link_carries_the_token_to_the_loopback_address() -> None:
    options = LaunchOptions(port=8123, token="abc_DEF-123456789012")
    assert HOST == "127.0.0.1"
    assert options.url == "http://127.0.0.1:8123/?token=abc_DEF-123456789012"


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as probe:
        probe.bind((HOST, port))


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["--help"], 0), (["--port", "0"], 2), (["--port", "http"], 2), (["--host", "0.0.0.0"], 2)],
)
def test_usage_errors_return_an_exit_code(argv: list[str], code: int) -> None:
    assert launch(argv) == code


def test_favicon_exists() -> None:
    assert FAVICON.is_file()
    assert FAVICON.read_text(encoding="utf-8").lstrip().startswith("<svg")
