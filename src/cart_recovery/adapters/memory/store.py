"""The in-memory CartStore and WakeQueue (``simulate`` and tests)."""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import msgspec

from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.feedback import is_final, replaces
from cart_recovery.domain.model import (
    AuditEntry,
    Cart,
    CartEvent,
    Outcome,
    SendRecord,
)
from cart_recovery.domain.privacy import (
    UNKEYED,
    EmailKey,
    Forgotten,
    anonymise_audit,
    anonymise_cart,
    anonymise_event,
    anonymise_send,
    names_address,
)
from cart_recovery.domain.timers import Timer, TimerChange, timer_for
from cart_recovery.ports import Claim, StaleCart, StoredEvent, Suppression


class MemoryStore:
    """CartStore and WakeQueue in dictionaries, with a heap of timers (lazy deletion)."""

    def __init__(self, *, keep_audit: bool = True, email_key: EmailKey | None = None) -> None:
        self.carts: dict[str, Cart] = {}
        self.sends: dict[str, dict[int, SendRecord]] = {}
        self.events: set[tuple[str, str]] = set()
        self.unsubs: dict[str, Suppression] = {}  # keyed digest → its row on the list
        self.soft_bounces: dict[str, list[datetime]] = {}  # keyed digest → when
        self.soft_bounce_ids: set[tuple[str, str]] = set()  # (keyed digest, provider's id)
        self.email_key = email_key or UNKEYED
        self.clicks: dict[str, list[tuple[int, datetime]]] = {}
        self.event_log: dict[str, list[StoredEvent]] = {}  # kept only with keep_audit
        self.audits: dict[str, list[AuditEntry]] = {}
        self.by_email: dict[str, set[str]] = {}
        self.sent_by_recipient: dict[str, list[SendRecord]] = {}
        self.timers: dict[str, Timer] = {}
        self._heap: list[tuple[datetime, str, int]] = []
        self._seq = itertools.count()
        self._timer_seq: dict[str, int] = {}
        self.keep_audit = keep_audit
        self.touches: list[tuple[datetime, str]] = []

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """Nothing to group in memory: every write is already immediate."""
        yield

    # ---- CartStore ------------------------------------------------------------------------
    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        steps = self.sends.get(cart_id)
        return self.carts.get(cart_id), [steps[k] for k in sorted(steps)] if steps else []

    def load_many(self, cart_ids: Sequence[str]) -> dict[str, tuple[Cart | None, list[SendRecord]]]:
        return {cart_id: self.load(cart_id) for cart_id in cart_ids}

    def unsubscribed_among(self, emails: Iterable[str]) -> set[str]:
        return {email for email in emails if self.is_unsubscribed(email)}

    def sent_to_many(self, emails: Iterable[str], since: datetime) -> dict[str, list[SendRecord]]:
        return {normalise_email(email): self.sent_to(email, since) for email in emails}

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        return [s for s in self.sent_by_recipient.get(normalise_email(email), []) if s.at >= since]

    def is_unsubscribed(self, email: str) -> bool:
        return self.email_key.digest(email) in self.unsubs

    def _check(self, cart_id: str, expected_version: int | None) -> None:
        current = self.carts.get(cart_id)
        if (None if current is None else current.version) != expected_version:
            raise StaleCart(cart_id)

    def _put(self, cart: Cart, expected_version: int | None) -> Cart:
        stored = msgspec.structs.replace(
            cart, version=0 if expected_version is None else expected_version + 1
        )
        old = self.carts.get(cart.cart_id)
        if old is not None and old.email:
            self.by_email.get(normalise_email(old.email), set()).discard(cart.cart_id)
        if stored.email:
            self.by_email.setdefault(normalise_email(stored.email), set()).add(cart.cart_id)
        self.carts[cart.cart_id] = stored
        return stored

    def _audit(self, entry: AuditEntry | None) -> None:
        if entry is not None and self.keep_audit:
            self.touches.append((entry.at, entry.cart_id))
            self.audits.setdefault(entry.cart_id, []).append(entry)

    def _timer(self, cart_id: str, change: TimerChange | None) -> None:
        if change is None:
            return
        timer = timer_for(cart_id, change)
        if timer is None:
            self.timers.pop(cart_id, None)
            self._timer_seq.pop(cart_id, None)
            return
        seq = next(self._seq)
        self.timers[cart_id] = timer
        self._timer_seq[cart_id] = seq
        heapq.heappush(self._heap, (timer.due, cart_id, seq))

    def _send_timer(self, cart_id: str, change: TimerChange | None) -> None:
        """A send's timer change: a new timer only while the cart is open (CartStore)."""
        cart = self.carts.get(cart_id)
        sets = change is not None and timer_for(cart_id, change) is not None
        if sets and (cart is None or not cart.is_open):
            return
        self._timer(cart_id, change)

    def apply_event(
        self,
        event: CartEvent,
        *,
        cart: Cart | None,
        expected_version: int | None,
        audit: AuditEntry | None,
        timer: TimerChange | None,
        now: datetime,
    ) -> bool:
        key = (event.cart_id, event.event_id)
        if key in self.events:
            return False
        if cart is not None:
            self._check(event.cart_id, expected_version)
            self._put(cart, expected_version)
        self.events.add(key)
        if self.keep_audit:
            self.event_log.setdefault(event.cart_id, []).append(StoredEvent(event, now))
        self.touches.append((now, event.cart_id))
        self._audit(audit)
        self._timer(event.cart_id, timer)
        return True

    def save_cart(
        self,
        cart: Cart,
        *,
        expected_version: int,
        audit: AuditEntry | None,
        timer: TimerChange | None,
    ) -> Cart:
        self._check(cart.cart_id, expected_version)
        stored = self._put(cart, expected_version)
        self._audit(audit)
        self._timer(cart.cart_id, timer)
        return stored

    def set_timer(self, cart_id: str, change: TimerChange, *, expected_version: int) -> None:
        self._check(cart_id, expected_version)
        self._timer(cart_id, change)

    def _step(self, cart_id: str, step: int) -> SendRecord | None:
        return self.sends.get(cart_id, {}).get(step)

    def _write_send(self, record: SendRecord) -> None:
        self.sends.setdefault(record.cart_id, {})[record.step] = record
        if record.outcome is Outcome.SENT and record.recipient:
            key = normalise_email(record.recipient)
            self.sent_by_recipient.setdefault(key, []).append(record)

    def record_send(self, record: SendRecord, *, timer: TimerChange | None) -> bool:
        current = self._step(record.cart_id, record.step)
        if current is not None and (current.done or current.outcome is Outcome.CLAIMED):
            return False
        self._write_send(record)
        self._send_timer(record.cart_id, timer)
        return True

    def claim_send(self, cart_id: str, step: int, recipient: str, now: datetime) -> Claim:
        cart = self.carts.get(cart_id)
        if cart is None or not cart.is_open:
            return Claim.STOPPED
        if self.is_unsubscribed(recipient):
            return Claim.UNSUBSCRIBED
        current = self._step(cart_id, step)
        if current is not None and current.outcome is not Outcome.DEFERRED:
            return Claim.ALREADY
        self._write_send(
            SendRecord(
                cart_id=cart_id, step=step, outcome=Outcome.CLAIMED, at=now, recipient=recipient
            )
        )
        return Claim.CLAIMED

    def finish_send(
        self,
        cart_id: str,
        step: int,
        outcome: Outcome,
        *,
        at: datetime,
        message_id: str | None = None,
        reason: str | None = None,
        due: datetime | None = None,
        timer: TimerChange | None = None,
        attempts: int = 0,
    ) -> None:
        current = self._step(cart_id, step)
        if current is None or current.outcome is not Outcome.CLAIMED:
            return
        self._write_send(
            msgspec.structs.replace(
                current,
                outcome=outcome,
                at=at,
                message_id=message_id,
                reason=reason,
                due=due,
                attempts=attempts,
            )
        )
        self._send_timer(cart_id, timer)

    def resolve_claims(self, now: datetime, audit_by: str = "system") -> list[SendRecord]:
        out = []
        for steps in self.sends.values():
            for step, record in list(steps.items()):
                if record.outcome is Outcome.CLAIMED:
                    done = msgspec.structs.replace(record, outcome=Outcome.UNCERTAIN)
                    steps[step] = done
                    out.append(done)
                    self._audit(audit_rows.uncertain(record, now, audit_by))
        return out

    def unsubscribe(
        self, email: str, *, source: str, at: datetime, reason: str | None = None
    ) -> bool:
        carts = self.carts_of(email)
        digest = self.email_key.digest(email)
        if not self._list(digest, source, at, reason, audit_rows.newest_cart(carts)):
            return False
        for cart in carts:
            self._audit(audit_rows.unsubscribed(cart, at, source, reason))
        return True

    def unsubscribe_key(
        self,
        digest: str,
        *,
        source: str,
        at: datetime,
        email: str | None = None,
        reason: str | None = None,
        cart_id: str | None = None,
    ) -> bool:
        if email is not None and self.email_key.digest(email) == digest:
            return self.unsubscribe(email, source=source, at=at, reason=reason)
        return self._list(digest, source, at, reason, cart_id)

    def _list(
        self, digest: str, source: str, at: datetime, reason: str | None, cart_id: str | None
    ) -> bool:
        old = self.unsubs.get(digest)
        if old is not None and not replaces(source, old.source):
            return False
        self.unsubs[digest] = Suppression(digest, at, source, reason, cart_id)
        return True

    def suppression(self, email: str) -> Suppression | None:
        return self.unsubs.get(self.email_key.digest(email))

    def suppression_key(self, digest: str) -> Suppression | None:
        return self.unsubs.get(digest)

    def resubscribe_key(
        self, digest: str, *, at: datetime, by: str, email: str | None = None
    ) -> bool:
        row = self.unsubs.get(digest)
        if row is None or is_final(row.source):
            return False
        del self.unsubs[digest]
        self.soft_bounces.pop(digest, None)
        self.soft_bounce_ids = {seen for seen in self.soft_bounce_ids if seen[0] != digest}
        if email is not None and self.email_key.digest(email) == digest:
            for cart in self.carts_of(email):
                self._audit(audit_rows.resubscribed(cart, at, by))
        return True

    def note_soft_bounce(
        self, email: str, *, at: datetime, since: datetime, event_id: str = ""
    ) -> int:
        digest = self.email_key.digest(email)
        seen = self.soft_bounces.setdefault(digest, [])
        if not event_id or (digest, event_id) not in self.soft_bounce_ids:
            seen.append(at)
            if event_id:
                self.soft_bounce_ids.add((digest, event_id))
        return sum(1 for t in seen if t >= since)

    def suppressions(self, limit: int = 200) -> list[Suppression]:
        rows = sorted(self.unsubs.values(), key=lambda r: r.digest)
        return sorted(rows, key=lambda r: r.at, reverse=True)[:limit]

    def suppressions_between(self, start: datetime, end: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.unsubs.values():
            if start <= row.at < end:
                counts[row.source] = counts.get(row.source, 0) + 1
        return counts

    def audit(self, cart_id: str) -> list[AuditEntry]:
        return list(self.audits.get(cart_id, []))

    def carts_between(self, start: datetime, end: datetime) -> list[Cart]:
        found = [c for c in self.carts.values() if start <= c.created_at < end]
        return sorted(found, key=lambda c: (c.created_at, c.cart_id))

    def touched_between(self, start: datetime, end: datetime) -> list[str]:
        ids = {c.cart_id for c in self.carts.values() if start <= c.created_at < end}
        ids.update(cart_id for at, cart_id in self.touches if start <= at < end)
        return sorted(ids)

    def unsubscribes_between(self, start: datetime, end: datetime) -> int:
        return sum(self.suppressions_between(start, end).values())

    def sent_between(self, start: datetime, end: datetime) -> int:
        return sum(
            1
            for steps in self.sends.values()
            for r in steps.values()
            if r.outcome is Outcome.SENT and start <= r.at < end
        )

    def carts_of(self, email: str) -> list[Cart]:
        return [self.carts[c] for c in sorted(self.by_email.get(normalise_email(email), ()))]

    # ---- clicks and the owner's reads -------------------------------------------------------
    def record_click(self, cart_id: str, step: int, at: datetime) -> None:
        self.clicks.setdefault(cart_id, []).append((step, at))

    def clicks_for(self, cart_ids: Iterable[str]) -> dict[str, list[tuple[int, datetime]]]:
        return {
            c: sorted(self.clicks[c], key=lambda click: (click[1], click[0]))
            for c in set(cart_ids)
            if self.clicks.get(c)
        }

    def search(self, text: str, limit: int = 50) -> list[Cart]:
        exact = text.strip()
        needle = exact.casefold()
        if not needle:
            return []
        found = [
            c
            for c in self.carts.values()
            if needle in c.cart_id.casefold()
            or (c.email is not None and needle in normalise_email(c.email))
            or (c.name is not None and needle in c.name.casefold())
        ]
        found.sort(key=lambda c: c.cart_id)
        found.sort(key=lambda c: c.created_at, reverse=True)  # stable: ties stay by id
        found.sort(key=lambda c: c.cart_id != exact)
        return found[: max(limit, 0)]

    def events_of(self, cart_id: str) -> list[StoredEvent]:
        return sorted(
            self.event_log.get(cart_id, ()),
            key=lambda e: (e.event.occurred_at, e.received_at, e.event.event_id),
        )

    def linked_carts(self, email: str) -> list[str]:
        address = normalise_email(email)
        ids = set(self.by_email.get(address, ()))
        for cart_id, log in self.event_log.items():
            if any(names_address(e.event.email, address) for e in log):
                ids.add(cart_id)
        for cart_id, steps in self.sends.items():
            if any(names_address(r.recipient, address) for r in steps.values()):
                ids.add(cart_id)
        return sorted(ids)

    def append_audit(self, entry: AuditEntry) -> None:
        self._audit(entry)

    def forget(self, email: str, *, by: str, at: datetime) -> Forgotten:
        ids = self.linked_carts(email)
        linked = set(ids)
        events = sends = rows = 0
        message_ids: list[str] = []
        for cart_id in ids:
            log = self.event_log.get(cart_id, [])
            self.event_log[cart_id] = [
                StoredEvent(anonymise_event(e.event), e.received_at) for e in log
            ]
            events += len(log)
            steps = self.sends.get(cart_id, {})
            for step, record in steps.items():
                if record.message_id:
                    message_ids.append(record.message_id)
                if record.recipient is not None:
                    steps[step] = anonymise_send(record)
                    sends += 1
            entries = self.audits.get(cart_id, [])
            self.audits[cart_id] = [anonymise_audit(a) for a in entries]
            rows += len(entries)
            cart = self.carts.get(cart_id)
            if cart is not None:
                stored = self._put(anonymise_cart(cart), cart.version)
                self._audit(audit_rows.forgotten(cart, stored, at, by))
        for key, records in list(self.sent_by_recipient.items()):
            kept = [r for r in records if r.cart_id not in linked]
            if kept:
                self.sent_by_recipient[key] = kept
            else:
                del self.sent_by_recipient[key]
        digest = self.email_key.digest(email)
        newly = digest not in self.unsubs
        if newly:
            self.unsubs[digest] = Suppression(digest, at, by)
        return Forgotten(
            cart_ids=tuple(ids),
            events=events,
            sends=sends,
            audit_rows=rows,
            newly_unsubscribed=newly,
            message_ids=tuple(message_ids),
        )

    # ---- WakeQueue ------------------------------------------------------------------------
    def _clean_top(self) -> None:
        while self._heap:
            _, cart_id, seq = self._heap[0]
            if self._timer_seq.get(cart_id) == seq:
                return
            heapq.heappop(self._heap)

    def due(self, now: datetime, limit: int) -> list[Timer]:
        out: list[Timer] = []
        taken: list[tuple[datetime, str, int]] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if self._timer_seq.get(entry[1]) == entry[2]:
                taken.append(entry)
                out.append(self.timers[entry[1]])
        for entry in taken:  # a fired timer stays until the service replaces or cancels it
            heapq.heappush(self._heap, entry)
        return out

    def next_due(self) -> datetime | None:
        self._clean_top()
        return self._heap[0][0] if self._heap else None

    def pending(self) -> int:
        return len(self.timers)
