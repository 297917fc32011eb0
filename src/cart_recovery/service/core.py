"""The service: intake, the waiter, the sender, stops and owner actions. Load → plan → apply.

Every runtime (embedded, simulate, AWS) calls these same methods; only the adapters differ.
Time always comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cart_recovery.domain.cart import apply_event, validate_event
from cart_recovery.domain.decide import next_wake
from cart_recovery.domain.model import AuditEntry, CartEvent, cart_snapshot
from cart_recovery.domain.timers import CancelTimers, SetWake, TimerChange
from cart_recovery.ports import (
    CartStore,
    DocSource,
    LineWriter,
    LinkMaker,
    Mailer,
    MailError,
    PlainLines,
)
from cart_recovery.service.alerts import AlertMonitor
from cart_recovery.service.docs import DocEditing
from cart_recovery.service.feedback import FeedbackHandling
from cart_recovery.service.happenings import H, Happening
from cart_recovery.service.owner import OwnerActions
from cart_recovery.service.retry import retrying
from cart_recovery.service.waking import Waking


@dataclass
class Service(FeedbackHandling, Waking, OwnerActions, DocEditing):
    store: CartStore
    mailer: Mailer
    docs: DocSource
    links: LinkMaker
    sender: str
    message_id_domain: str
    lines: LineWriter = field(default_factory=PlainLines)  # the owner's plain line, always
    default_locale: str = "en_US"
    mail_errors: tuple[type[Exception], ...] = (MailError,)
    on_happening: Callable[[Happening], None] | None = None
    # None: the waiter sends itself (embedded). Otherwise it hands each due step to this
    # (cart_id, step, due) → e.g. an EventBridge event whose target calls ``send_reminder``.
    hand_off: Callable[[str, int, datetime], None] | None = None
    # The owner's alerts (None: this runtime raises none; AWS has its CloudWatch alarms).
    alerts: AlertMonitor | None = None

    # ---- intake -------------------------------------------------------------------------
    def ingest(self, event: CartEvent, now: datetime) -> bool:
        """Apply one cart event. False: a redelivery of an event already processed (no-op).

        Raises EventError (naming the field) for an invalid event; nothing is stored then.
        """
        event = validate_event(event, now)

        def once() -> bool:
            cart, sends = self.store.load(event.cart_id)
            applied = apply_event(cart, event, now)
            timer: TimerChange | None = None
            audit = None
            if applied.cart is not None:
                if applied.cancel:
                    timer = CancelTimers()
                elif applied.reschedule:
                    wake = next_wake(applied.cart, sends, self.docs.rules())
                    timer = SetWake(wake) if wake is not None else CancelTimers()
                audit = AuditEntry(
                    cart_id=event.cart_id,
                    at=now,
                    by="system",
                    action=applied.action,
                    before=cart_snapshot(cart),
                    after=cart_snapshot(applied.cart),
                    detail=f"{event.type} {event.event_id}",
                )
            return self.store.apply_event(
                event,
                cart=applied.cart,
                expected_version=None if cart is None else cart.version,
                audit=audit,
                timer=timer,
                now=now,
            )

        return retrying(once, f"cart {event.cart_id} kept changing while an event was applied")

    def _tell(self, happening: H) -> H:
        if self.on_happening is not None:
            self.on_happening(happening)
        return happening
