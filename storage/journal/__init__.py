"""The crash-safe campaign journal: SQLite in WAL mode, one durable commit per message.

- `store`: `JournalStore`, every campaign in one file (create, recover, counts, sends window).
- `campaign`: `SqliteCampaignJournal`, one campaign as the engine sees it, and its lock.
- `records`: `CampaignRecord`, `account_key` and `input_hash`.
- `history`: what people ask of past campaigns: summaries, rows, export, retry, resolve.
- `scheduling`: campaigns scheduled to start later: list, due, edit, cancel, claim.
- `reader`: `JournalReader`, a read-only look that never creates or locks anything.
- `schema`: the tables, `SCHEMA_VERSION` and the migrations run when a journal is opened.
The errors live with the other storage errors in `storage.errors` and are re-exported here.
"""

from storage.errors import (
    CampaignLockedError,
    CampaignNotFoundError,
    JournalCorruptError,
    JournalError,
)
from storage.journal.campaign import SqliteCampaignJournal
from storage.journal.reader import JournalReader
from storage.journal.records import AcceptedByCampaign, CampaignRecord, account_key, input_hash
from storage.journal.schema import SCHEMA_VERSION
from storage.journal.store import JournalStore

__all__ = [
    "SCHEMA_VERSION",
    "AcceptedByCampaign",
    "CampaignLockedError",
    "CampaignNotFoundError",
    "CampaignRecord",
    "JournalCorruptError",
    "JournalError",
    "JournalReader",
    "JournalStore",
    "SqliteCampaignJournal",
    "account_key",
    "input_hash",
]
