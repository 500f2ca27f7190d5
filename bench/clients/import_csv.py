"""Import and validate a recipients CSV the way the app does; prints rows and seconds as JSON.

`python -m bench.clients.import_csv --recipients CSV`: `core.recipients.load_recipients`
(decode, sniff, parse, check every address as email-validator would, drop duplicates), the
app's upload, which refuses a file over 50 MB. `--streamed`: the command line's way for a
list of any size, `core.recipients.FileRecipients` (the same checks in one pass, the accepted
rows spilled to a private temporary file instead of held in memory).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from core.recipients import load_recipients
from core.recipients.source import FileRecipients

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clients.import_csv", description=__doc__)
    parser.add_argument("--recipients", type=Path, required=True)
    parser.add_argument("--streamed", action="store_true", help="as `main.py send` reads it")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.streamed:
        report = FileRecipients(args.recipients).report
    else:
        report = load_recipients(args.recipients)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "recipients": report.count,
                "rejected": len(report.rejected),
                "duplicates": report.duplicate_count,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
