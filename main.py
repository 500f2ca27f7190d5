"""Bulk Mailer: composition root. `python main.py` opens the app; `main.py CMD` is the CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a CLI command when the first argument names one, else start the GUI.

    Ctrl+C at any moment (while importing, in a prompt, while the app serves) ends with
    one line, never a traceback; a running campaign says how to resume it first.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from ui.cli import COMMANDS, run

        if args and (args[0] in COMMANDS or args[0] in {"-h", "--help"}):
            return run(args)
        from ui.web.launch import launch

        return launch(args)
    except KeyboardInterrupt:
        print("\nStopped (Ctrl+C).", file=sys.stderr)
        return EXIT_INTERRUPTED


# Only as a script: the native window's spawned process re-imports this file as __mp_main__
# and must not start a second app (it gets the URL with the token from its parent).
if __name__ == "__main__":
    sys.exit(main())
