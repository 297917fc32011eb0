"""What a batch of wake-ups reads, fetched ahead with a few queries inside its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.model import Cart, SendRecord


class Reads(Protocol):
    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]: ...

    def is_unsubscribed(self, email: str) -> bool: ...

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]: ...


@dataclass(frozen=True)
class Prefetched:
    """A batch's reads, fetched ahead inside its transaction; anything not fetched (or asked
    again after a conflict) goes to the store."""

    store: Reads  # the store, or its read-ahead
    since: datetime
    carts: dict[str, tuple[Cart | None, list[SendRecord]]]
    asked: set[str]  # the addresses whose unsubscribes were fetched
    unsubscribed: set[str]
    recent: dict[str, list[SendRecord]]

    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        found = self.carts.pop(cart_id, None)  # once: a second look reads the store
        return found if found is not None else self.store.load(cart_id)

    def is_unsubscribed(self, email: str) -> bool:
        if email in self.asked:
            return email in self.unsubscribed
        return self.store.is_unsubscribed(email)

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        found = self.recent.get(normalise_email(email))
        if found is None or since != self.since:
            return self.store.sent_to(email, since)
        return found
