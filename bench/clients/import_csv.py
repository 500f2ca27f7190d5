"""Import and validate a recipients CSV the way the app does; prints rows and seconds as JSON.

`python -m bench.clients.import_csv --recipients CSV`: `core.recipients.load_recipients`
(decode, sniff, parse, validate every address with email-validator, drop duplicates).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from core.recipients import load_recipients

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clients.import_csv", description=__doc__)
    parser.add_argument("--recipients", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report = load_recipients(args.recipients)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "recipients": len(report.recipients),
                "rejected": len(report.rejected),
                "duplicates": report.duplicate_count,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
