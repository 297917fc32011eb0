"""The embedded store: SQLite in WAL mode, holding carts, sends, audit, unsubscribes, processed
event ids and the wake-up timers in one file, so a write and its timer change commit together.

Times are stored as integer microseconds since the Unix epoch (UTC). The store is one class
assembled from its parts: ``connection`` (the file and its transactions), ``reads`` and
``writes`` (intake, waking, sending), ``intake`` (a webhook group's events in a few
statements), ``batch`` (a chunk of wake-ups' writes at once), ``owner`` (history, searches,
forgetting), ``alerts`` (the owner's alert log), ``accounts`` (the owners' logins and
sessions), over
``schema`` (migrations), ``codec`` (values) and ``rows`` (shared statements).
"""

from __future__ import annotations

from cart_recovery.adapters.sqlite.accounts import Accounts
from cart_recovery.adapters.sqlite.alerts import Alerts
from cart_recovery.adapters.sqlite.batch import BatchWrites
from cart_recovery.adapters.sqlite.codec import EPOCH, from_us, to_us
from cart_recovery.adapters.sqlite.intake import Intake
from cart_recovery.adapters.sqlite.owner import Owner
from cart_recovery.adapters.sqlite.reads import Reads
from cart_recovery.adapters.sqlite.schema import MIGRATIONS, migrate
from cart_recovery.adapters.sqlite.suppressions import Suppressions

__all__ = ["EPOCH", "MIGRATIONS", "SqliteStore", "from_us", "migrate", "to_us"]


class SqliteStore(Reads, BatchWrites, Intake, Suppressions, Owner, Alerts, Accounts):
    """CartStore + WakeQueue + AlertLog + OwnerAccounts on one SQLite file (WAL). Safe to share
    between threads."""
