"""What the service did, as values: the runtime logs and counts them; simulate reports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar


@dataclass(frozen=True)
class Sent:
    cart_id: str
    step: int
    at: datetime
    recipient: str
    message_id: str
    tier: str = ""


@dataclass(frozen=True)
class Skipped:
    cart_id: str
    step: int
    reason: str
    at: datetime
    tier: str = ""


@dataclass(frozen=True)
class Deferred:
    cart_id: str
    step: int
    due: datetime  # when the step fell due
    at: datetime  # the first allowed minute it was moved to
    tier: str = ""


@dataclass(frozen=True)
class Closed:
    cart_id: str
    reason: str
    at: datetime
    tier: str = ""


@dataclass(frozen=True)
class Stopped:
    """A send refused at the last re-check (bought, closed, unsubscribed, or claimed already)."""

    cart_id: str
    step: int
    why: str
    at: datetime


@dataclass(frozen=True)
class MailFailed:
    cart_id: str
    step: int
    at: datetime
    retry_at: datetime | None
    error: str


@dataclass(frozen=True)
class Bounced:
    """The mail server refused the recipient for good at send time: the step is skipped and
    the address suppressed (a hard bounce)."""

    cart_id: str
    step: int
    at: datetime
    error: str


@dataclass(frozen=True)
class HandedOff:
    """The waiter passed a due step to a separate sender (the AWS runtime's EventBridge)."""

    cart_id: str
    step: int
    due: datetime
    at: datetime


Happening = Sent | Skipped | Deferred | Closed | Stopped | MailFailed | Bounced | HandedOff
H = TypeVar("H", Sent, Skipped, Deferred, Closed, Stopped, MailFailed, Bounced, HandedOff)


@dataclass
class WakeBatch:
    """What ``Service.wake_many`` did: happenings, the carts it fired, the carts it left for
    the next batch, and the wake-ups that raised."""

    happenings: list[Happening] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    later: list[str] = field(default_factory=list)
    errors: list[tuple[str, Exception]] = field(default_factory=list)
