"""The stdlib peer: smtplib + `email.message.EmailMessage`, as a hand-written script would do it.

`python -m bench.clients.smtplib_client --port P --recipients CSV --template T [--per-message]`
reads the same CSV and template as every client, substitutes the merge fields, builds each
message with `EmailMessage` (default policy) and sends it over one connection, or over a new
connection per message with `--per-message`. No journal, no retries. Prints `{"sent": N}`.
"""

from __future__ import annotations

import argparse
import csv
import json
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from bench.workload import render, split_template

__all__ = ["main", "messages"]


def messages(recipients: Path, template: Path) -> Iterator[EmailMessage]:
    """One `EmailMessage` per CSV row, built just before it is sent."""
    headers, body = split_template(template.read_text(encoding="utf-8"))
    with recipients.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            msg = EmailMessage()
            msg["From"] = headers["from"]
            msg["To"] = render(headers["to"], row)
            msg["Subject"] = render(headers["subject"], row)
            msg["Date"] = formatdate(localtime=False)
            msg["Message-ID"] = make_msgid(domain="example.com")
            msg.set_content(render(body, row))
            yield msg


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.clients.smtplib_client", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--recipients", type=Path, required=True)
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--per-message", action="store_true", help="a new connection each")
    args = parser.parse_args(argv)
    sent = 0
    if args.per_message:
        for msg in messages(args.recipients, args.template):
            with smtplib.SMTP(args.host, args.port, local_hostname="localhost") as smtp:
                smtp.send_message(msg)
            sent += 1
    else:
        with smtplib.SMTP(args.host, args.port, local_hostname="localhost") as smtp:
            for msg in messages(args.recipients, args.template):
                smtp.send_message(msg)
                sent += 1
    print(json.dumps({"sent": sent}))


if __name__ == "__main__":
    main()
