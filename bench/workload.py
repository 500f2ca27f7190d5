"""The same input for every client: a recipients CSV and a ~2 KB mailmerge-style template."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SENDER",
    "TEMPLATE",
    "Workload",
    "make_workload",
    "render",
    "split_template",
    "write_recipients",
    "write_recipients_xlsx",
]

SENDER = "sender@example.com"
_SEED = 20261128  # the same names in every run

# A mailmerge template (TO/FROM/SUBJECT, a blank line, the body): mailmerge reads it as is,
# so does `python main.py send`; the smtplib and Nodemailer clients substitute {{ field }}
# themselves. The body renders to about 2 KB.
TEMPLATE = """\
TO: {{ email }}
FROM: Bench Sender <sender@example.com>
SUBJECT: {{ first_name }}, what is new at {{ company }} this month

Hi {{ first_name }},

Thanks for being part of our community at {{ company }}! We are getting in touch
with everyone in {{ city }} because we have something new to share with you and
with the rest of the {{ company }} team.

What is new this month
----------------------

- A faster, friendlier dashboard: the pages you open most now load in a blink,
  and the reports you asked for are one click away from the home screen.
- Local meet-ups, starting in {{ city }}: an evening with the people who build
  the product, a short demo, and plenty of time for your questions.
- A discount for the whole {{ company }} team: every seat you add before the end
  of the quarter costs a third less, for as long as you keep it.
- Better exports: every table can be saved as CSV or as a spreadsheet, with the
  columns in the order you see them, and the filters you chose still applied.

How to get started
------------------

Sign in as usual with {{ email }}; the new dashboard is already there. If you
prefer the old one, the switch is in your settings for the next three months.
Your account manager, who looks after {{ company }}, can walk you through the
changes in a fifteen-minute call at a time that suits you.

If you have questions, just reply to this message: a real person reads every
answer, usually within a working day, and we would love to hear what you think
about the changes, what you miss, and what you would like to see next.

Have a great week, {{ first_name }},
The Example Team

--
You receive this message at {{ email }} because {{ first_name }} {{ last_name }}
signed up on our website for {{ company }} in {{ city }}. To stop these messages,
reply with "unsubscribe" in the subject line and we will take you off the list.
"""

_FIRST = ("Ann", "Bob", "Carla", "Dev", "Erik", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Kemal")
_LAST = ("Lee", "Martin", "Garcia", "Chen", "Novak", "Okafor", "Petit", "Quinn", "Rossi", "Sato")
_COMPANY = ("Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Adventure Works", "Tailspin")
_CITY = ("Seattle", "Chicago", "Madrid", "Singapore", "Lagos", "Lyon", "Osaka", "Quito")
COLUMNS = ("email", "first_name", "last_name", "company", "city")


@dataclass(frozen=True, slots=True)
class Workload:
    """Files every client reads: the recipients CSV and the template."""

    recipients: Path
    template: Path
    count: int


def write_recipients_xlsx(csv_path: Path, path: Path) -> Path:
    """The same rows as an .xlsx (openpyxl's write-only mode), plus a header cell in column
    XFD: the import must cost what the cells present cost, not the column span."""
    from openpyxl import Workbook

    last = 16_384  # column XFD
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Recipients")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for index, row in enumerate(csv.reader(handle)):
            cells: list[str | None] = list(row)
            if index == 0:
                cells += [None] * (last - len(row) - 1) + ["note"]
            sheet.append(cells)
    workbook.save(path)
    return path


def write_recipients(path: Path, count: int) -> Path:
    """`count` distinct recipients with the template's merge fields, as a CSV with a header."""
    rng = random.Random(_SEED)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for index in range(count):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first.lower()}.{last.lower()}.{index}@example.com"
            writer.writerow((email, first, last, rng.choice(_COMPANY), rng.choice(_CITY)))
    return path


def make_workload(folder: Path, count: int) -> Workload:
    """Write the CSV (unless one with this count is there) and the template under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    recipients = folder / f"recipients-{count}.csv"
    if not recipients.exists():
        write_recipients(recipients.with_suffix(".tmp"), count).replace(recipients)
    template = folder / "template.txt"
    template.write_text(TEMPLATE, encoding="utf-8")
    return Workload(recipients, template, count)


def split_template(text: str) -> tuple[dict[str, str], str]:
    """(headers by lower-case name, body) of a mailmerge template."""
    head, _, body = text.partition("\n\n")
    headers = {}
    for line in head.splitlines():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


def render(text: str, fields: dict[str, str]) -> str:
    """Substitute `{{ name }}` merge fields (what the smtplib clients use instead of Jinja2)."""
    for name, value in fields.items():
        text = text.replace("{{ " + name + " }}", value)
    return text
