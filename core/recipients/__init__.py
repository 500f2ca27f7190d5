"""Recipient lists from pasted text, TXT, CSV/TSV and XLSX, validated, with a report of problems.

Every source gives an `ImportReport`: the accepted `Recipient`s in source order, the
rejected rows (line, value, reason, field) and the duplicates dropped (keeping the
first). Row problems never raise; a file the parser cannot read (bad bytes, broken
quoting, no email column, over a size or row cap) raises `InputError` with its line.

Rules, in one place:
- Addresses are checked by email-validator (syntax only). The domain is stored in
  lowercase A-labels; a non-ASCII local part is kept and flagged `needs_smtputf8`.
- A control character (CR, LF, NUL, TAB, DEL, C1) or U+2028/U+2029 in any value of a
  row rejects the row: templates may put any field in a header. Nothing is stripped
  or rewritten except surrounding spaces of the address.
- Duplicates: the same `identity` (the address in `str.lower()`, domain as A-labels);
  the first spelling is kept and sent, later ones are reported with their lines.
- Tables: every column is a merge field (str); "email" is added with the normalized
  address when no column has that name. `Recipient.name` comes from a name / full
  name / display name column, else first name + last name; else from an address cell
  written as `Name <addr>`.
- Rows shorter than the header are padded with ""; longer rows are rejected unless
  the extra cells are empty. Blank rows are skipped (and not counted).
- XLSX is streamed: only columns whose header cell has a value are kept, and at most
  MAX_COLUMNS named columns and MAX_CELLS cells present are read.
"""

from core.recipients.address import (
    detect_email_column,
    identity,
    is_plain_address,
    validate_address,
)
from core.recipients.files import load_recipients, parse_bytes
from core.recipients.report import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    Duplicate,
    ImportReport,
    Rejected,
    merge_reports,
)
from core.recipients.sheet import MAX_CELLS, MAX_COLUMNS
from core.recipients.tables import parse_csv, parse_xlsx, read_header, sniff_delimiter
from core.recipients.text import parse_text, parse_txt

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "MAX_CELLS",
    "MAX_COLUMNS",
    "Duplicate",
    "ImportReport",
    "Rejected",
    "detect_email_column",
    "identity",
    "is_plain_address",
    "load_recipients",
    "merge_reports",
    "parse_bytes",
    "parse_csv",
    "parse_text",
    "parse_txt",
    "parse_xlsx",
    "read_header",
    "sniff_delimiter",
    "validate_address",
]
