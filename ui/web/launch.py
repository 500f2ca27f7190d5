"""Start the app: local-only server, launch token, sandbox SMTP server, browser tab or window."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing
import os
import secrets
import socket
import sys
import threading
import webbrowser
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nicegui import Client, app, ui

from ui.services import sandbox
from ui.web.app import root
from ui.web.layout import APP_NAME
from ui.web.nicegui_internals import server_started
from ui.web.outbox import outbox_changed
from ui.web.scheduled import watch_scheduled
from ui.web.security import TOKEN_PARAM, LocalGuard

__all__ = [
    "FAVICON",
    "HOST",
    "PORT_ENV",
    "READY_MARKER",
    "SANDBOX_MARKER",
    "TOKEN_ENV",
    "WINDOW_MARKER",
    "LaunchOptions",
    "build_parser",
    "free_port",
    "launch",
]

HOST = "127.0.0.1"  # never anything else: the app is for this computer only
TOKEN_ENV = "BULKMAILER_LAUNCH_TOKEN"  # noqa: S105 - a variable name; hands the token to the window
PORT_ENV = "BULKMAILER_LAUNCH_PORT"
READY_MARKER = "Bulk Mailer is running at"
SANDBOX_MARKER = "Sandbox SMTP server (nothing leaves this computer) at"
WINDOW_MARKER = "Bulk Mailer page loaded in the window:"
FAVICON = Path(__file__).resolve().parents[2] / "assets" / "favicon.svg"
NATIVE_WINDOW_SIZE = (1200, 860)
STARTUP_POLL_SECONDS = 0.05
PAGE_CHECK_TIMEOUT = 10.0  # seconds for the first page to answer the rendered-check
# Evaluated in the first page that connects: proves the page's scripts ran and Vue rendered it.
_RENDERED_CHECK = (
    "(() => { const a = document.querySelector('.q-header a');"
    " return [document.title, a ? a.textContent.trim() : '']; })()"
)


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """What one launch runs with."""

    port: int
    token: str
    native: bool = False
    open_browser: bool = True

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def url(self) -> str:
        """The link that opens the app: it carries the launch token once."""
        return f"{self.base_url}?{TOKEN_PARAM}={self.token}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description=f"Open {APP_NAME} in your browser (or a window). It listens on {HOST} only.",
        epilog="Commands such as `verify` run without the app: see `python main.py --help`.",
    )
    parser.add_argument(
        "--port", type=_port, default=None, help="port to listen on (default: a free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the link, do not open a browser"
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="open a desktop window instead of a tab (needs the [native] extra)",
    )
    return parser


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def launch(argv: Sequence[str]) -> int:
    """Serve the app until Ctrl+C (or until the native window closes); returns the exit code."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help exits 0, bad usage 2
        return int(exc.code or 0)

    if multiprocessing.current_process().name != "MainProcess":
        # The native window's process re-imported main.py. It serves nothing; it only needs
        # the parent's link (the parent also passes it in window_args, so this is a fallback).
        _set_window_url_from_environment()
        return 0

    if args.native and importlib.util.find_spec("webview") is None:
        print("The native window needs pywebview: pip install -e '.[native]'", file=sys.stderr)
        return 2

    options = LaunchOptions(
        port=args.port or free_port(),
        token=secrets.token_urlsafe(32),
        native=args.native,
        open_browser=not (args.no_browser or args.native),
    )
    app.add_middleware(LocalGuard, port=options.port, token=options.token)
    # NiceGUI runs async startup handlers as background tasks, so this one does it all in order.
    app.on_startup(lambda: _start_and_announce(options))
    app.on_startup(watch_scheduled)  # due campaigns start even before a page is opened
    app.on_shutdown(sandbox.stop)
    app.on_connect(_PageLoadReporter(options).on_connect)
    if options.native:
        _prepare_native_window(options)

    ui.run(
        root=root,
        host=HOST,
        port=options.port,
        reload=False,
        show=False,
        title=APP_NAME,
        language="en-US",  # the page declares its language (screen readers, axe)
        favicon=FAVICON if FAVICON.is_file() else None,
        storage_secret=secrets.token_urlsafe(32),
        session_middleware_kwargs={
            "session_cookie": f"bulkmailer_storage_{options.port}",
            "same_site": "strict",
        },
        show_welcome_message=False,
        native=options.native,
        window_size=NATIVE_WINDOW_SIZE if options.native else None,
    )
    return 0


async def _start_and_announce(options: LaunchOptions) -> None:
    """Start the sandbox, then print the link (and open it) once uvicorn accepts connections."""
    try:
        smtp = await sandbox.start(on_message=outbox_changed.emit)
    except OSError as exc:
        print(f"The sandbox SMTP server could not start: {exc}", file=sys.stderr, flush=True)
    else:
        print(f"{SANDBOX_MARKER} {sandbox.SANDBOX_HOST}:{smtp.port}", flush=True)
    while server_started() is False:
        await asyncio.sleep(STARTUP_POLL_SECONDS)
    print(f"{READY_MARKER} {options.url}", flush=True)
    if options.native:
        print("The window opens by itself; closing it stops the app.", flush=True)
    else:
        print(
            "Open that link to use it (it carries this run's secret key). Ctrl+C stops it.",
            flush=True,
        )
    if options.open_browser:
        threading.Thread(target=webbrowser.open, args=(options.url,), daemon=True).start()


class _PageLoadReporter:
    """Prints once, when the first page has connected and rendered (tests wait for it)."""

    def __init__(self, options: LaunchOptions) -> None:
        self._options = options
        self._reported = False

    async def on_connect(self, client: Client) -> None:
        if self._reported:
            return
        try:
            title, header = await client.run_javascript(_RENDERED_CHECK, timeout=PAGE_CHECK_TIMEOUT)
        except (TimeoutError, RuntimeError, ValueError, TypeError):
            return
        if self._reported or APP_NAME not in str(header):
            return
        self._reported = True
        where = "native window" if self._options.native else "browser"
        print(f"{WINDOW_MARKER} {where}, title {title!r}, header {header!r}", flush=True)


def _prepare_native_window(options: LaunchOptions) -> None:
    # For the window's process (spawned, it inherits the environment); other child processes
    # never see the token, since it is only set in native mode.
    os.environ[TOKEN_ENV] = options.token
    os.environ[PORT_ENV] = str(options.port)
    app.native.window_args["url"] = (
        options.url
    )  # NiceGUI would open the bare URL, without the token
    if sys.platform.startswith("linux") and "PYWEBVIEW_GUI" not in os.environ:
        if importlib.util.find_spec("gi") is None and importlib.util.find_spec("qtpy") is not None:
            app.native.start_args["gui"] = "qt"  # skip pywebview's noisy GTK attempt
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Qt WebEngine (Chromium) refuses to start as root with its sandbox on.
        os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")


def _set_window_url_from_environment() -> None:
    token, port = os.environ.get(TOKEN_ENV), os.environ.get(PORT_ENV)
    if token and port and port.isdigit():
        app.native.window_args["url"] = LaunchOptions(port=int(port), token=token).url


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, not {port}")
    return port
