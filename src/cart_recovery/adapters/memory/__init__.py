"""In-memory adapters: complete implementations of the ports, used by ``simulate`` and tests:
the store (``MemoryStore``) and the rules and voice docs (``StaticDocs``, ``MemoryDocs``)."""

from cart_recovery.adapters.memory.docs import MemoryDocs, StaticDocs
from cart_recovery.adapters.memory.store import MemoryStore

__all__ = ["MemoryDocs", "MemoryStore", "StaticDocs"]
