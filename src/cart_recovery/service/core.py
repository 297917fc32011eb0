"""The service: intake, the waiter, the sender, stops and owner actions. Load → plan → apply.

Every runtime (embedded, simulate, AWS) calls these same methods; only the adapters differ.
Time always comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

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
from cart_recovery.service.intake import Intake
from cart_recovery.service.owner import OwnerActions
from cart_recovery.service.waking import Waking


@dataclass
class Service(Intake, FeedbackHandling, Waking, OwnerActions, DocEditing):
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

    def _tell(self, happening: H) -> H:
        if self.on_happening is not None:
            self.on_happening(happening)
        return happening
