"""In-memory adapters: complete implementations of the ports, used by ``simulate`` and tests:
the store (``MemoryStore``), the rules and voice docs (``StaticDocs``, ``MemoryDocs``) and the
owner's alert log (``MemoryAlerts``) and the owners' logins (``MemoryAccounts``)."""

from cart_recovery.adapters.memory.accounts import MemoryAccounts
from cart_recovery.adapters.memory.alerts import MemoryAlerts
from cart_recovery.adapters.memory.docs import MemoryDocs, StaticDocs
from cart_recovery.adapters.memory.store import MemoryStore

__all__ = ["MemoryAccounts", "MemoryAlerts", "MemoryDocs", "MemoryStore", "StaticDocs"]
