"""The store's writes for a chunk of wake-ups at once: each a single ``executemany``, with the
same answers as the one-at-a-time writes (``claim_send``, ``finish_send``, ``set_timer``),
which they fall back to, row by row, when any row is refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cart_recovery.adapters.sqlite.codec import to_us
from cart_recovery.adapters.sqlite.writes import _CLAIM, Writes
from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.timers import SetWake
from cart_recovery.ports import Claim, StaleCart

_SET_WAKE = (
    "INSERT INTO timers (cart_id, due, kind, step) SELECT ?, ?, 'wake', NULL "
    "WHERE (SELECT version FROM carts WHERE cart_id = ?) = ? "
    "ON CONFLICT (cart_id) DO UPDATE SET due = excluded.due, "
    "kind = excluded.kind, step = excluded.step"
)
_FINISH_SENT = (
    "UPDATE sends SET outcome = 'sent', at = ?, message_id = ?, reason = NULL, due = NULL, "
    "attempts = 0 WHERE cart_id = ? AND step = ? AND outcome = 'claimed'"
)


class _Refused(Exception):
    """Some row of an ``executemany`` was refused: roll it back, go row by row."""


class BatchWrites(Writes):
    def claim_sends(self, claims: Sequence[tuple[str, int, str]], now: datetime) -> list[Claim]:
        if not claims:
            return []
        at = to_us(now)
        rows = [
            (cart_id, step, at, to, normalise_email(to), cart_id, self.email_digest(to))
            for cart_id, step, to in claims
        ]
        try:
            with self._write() as c:
                if c.executemany(_CLAIM, rows).rowcount != len(rows):
                    raise _Refused
            return [Claim.CLAIMED] * len(rows)
        except _Refused:
            return [self.claim_send(cart_id, step, to, now) for cart_id, step, to in claims]

    def finish_sent(self, sent: Sequence[tuple[str, int, str]], at: datetime) -> None:
        with self._write() as c:
            c.executemany(
                _FINISH_SENT,
                [(to_us(at), message_id, cart_id, step) for cart_id, step, message_id in sent],
            )

    def set_wakes(self, wakes: Sequence[tuple[str, datetime, int]]) -> list[str]:
        if not wakes:
            return []
        rows = [(cart_id, to_us(due), cart_id, version) for cart_id, due, version in wakes]
        try:
            with self._write() as c:
                if c.executemany(_SET_WAKE, rows).rowcount != len(rows):
                    raise _Refused
            return []
        except _Refused:
            stale = []
            for cart_id, due, version in wakes:
                try:
                    self.set_timer(cart_id, SetWake(due), expected_version=version)
                except StaleCart:
                    stale.append(cart_id)
            return stale
