"""Bulk Mailer: composition root. `python main.py` opens the app; `main.py CMD` is the CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a CLI command when the first argument names one, else start the GUI."""
    args = list(sys.argv[1:] if argv is None else argv)
    from ui.cli import COMMANDS, run

    if args and (args[0] in COMMANDS or args[0] in {"-h", "--help"}):
        return run(args)
    from ui.web.launch import launch

    return launch(args)


# Only as a script: the native window's spawned process re-imports this file as __mp_main__
# and must not start a second app (it gets the URL with the token from its parent).
if __name__ == "__main__":
    sys.exit(main())
