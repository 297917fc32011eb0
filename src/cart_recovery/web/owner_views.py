"""What the owner's pages show, built from store rows: list rows, a cart's timeline, its emails.
No HTTP here; the dashboard (``web/admin/``) and the action links (``web/links.py``) render
these. The docs page and its preview are in ``owner_docs.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency

from cart_recovery.domain.compose import ComposeError, OutgoingEmail, compose
from cart_recovery.domain.decide import next_on_timeline
from cart_recovery.domain.gates import quiet_until, zone_for
from cart_recovery.domain.model import (
    AuditEntry,
    Cart,
    CloseReason,
    Item,
    Outcome,
    SendRecord,
    Status,
)
from cart_recovery.domain.rules import Rules
from cart_recovery.domain.stats import Attribution, attribution
from cart_recovery.domain.voice import Voice
from cart_recovery.ports import KeepsCopies, MailCopy, Mailer, StoredEvent
from cart_recovery.service import Service

STEP_NAMES = {1: "1st reminder", 2: "2nd reminder"}
ORDINALS = {1: "1st", 2: "2nd"}
CLOSE_LABELS = {
    CloseReason.GAVE_UP: "no answer",
    CloseReason.TOO_OLD: "too old",
    CloseReason.SUPPRESSED: "suppressed",
    CloseReason.WRITTEN_OFF: "written off",
}
SKIP_LABELS = {
    "no_email": "no email address",
    "unsubscribed": "unsubscribed",
    "do_not_disturb": "do not disturb (another cart was just reminded)",
    "no_consent": "no marketing consent",
    "mail_failed": "the mail server kept refusing it",
}
ATTRIBUTION_LABELS = {
    Attribution.CLICKED_THEN_BOUGHT: ("Recovered · clicked", "won"),
    Attribution.BOUGHT_AFTER_REMINDER: ("Recovered · no click", "won"),
    Attribution.CAME_BACK_ON_OWN: ("Came back on their own", "own"),
    Attribution.BOUGHT_LATE: ("Bought later", "own"),
    Attribution.NOT_BOUGHT: ("", ""),
}


@dataclass(frozen=True)
class Fmt:
    """Times in the store's timezone and money in the store's locale."""

    zone: ZoneInfo
    locale: str = "en_US"

    def local(self, t: datetime) -> datetime:
        return t.astimezone(self.zone)

    def when(self, t: datetime | None) -> str:
        if t is None:
            return ""
        lt = self.local(t)
        return f"{lt:%a} {lt.day} {lt:%b}, {lt:%H:%M}"

    def clock(self, t: datetime | None) -> str:
        return "" if t is None else f"{self.local(t):%H:%M}"

    def stamp(self, t: datetime | None) -> str:
        return "" if t is None else self.local(t).isoformat(timespec="seconds")

    def money(self, amount: Decimal, currency: str) -> str:
        try:
            Locale.parse(self.locale)
            return format_currency(amount, currency, locale=self.locale)
        except (UnknownLocaleError, ValueError):
            return f"{amount} {currency}"


def status_of(cart: Cart) -> tuple[str, str]:
    """(label, css class) of a cart's status."""
    if cart.status is Status.OPEN:
        return "Open", "open"
    if cart.status is Status.BOUGHT:
        return "Bought", "bought"
    reason = CLOSE_LABELS.get(cart.close_reason, "") if cart.close_reason else ""
    return ("Closed · " + reason if reason else "Closed"), "closed"


def step_label(record: SendRecord, fmt: Fmt, *, short: bool = False) -> str:
    at = fmt.clock(record.at) if short else fmt.when(record.at)
    if record.outcome is Outcome.SENT:
        return f"sent {at}"
    if record.outcome is Outcome.SKIPPED:
        reason = SKIP_LABELS.get(record.reason or "", record.reason or "")
        return "skipped: " + reason.split(" (")[0]
    if record.outcome is Outcome.DEFERRED:
        return f"waiting until {fmt.when(record.due)}"
    if record.outcome is Outcome.UNCERTAIN:
        return "uncertain (never resent)"
    return "being sent"


def status_phrase(cart: Cart) -> str:
    """The status in a sentence: "open", "bought", "closed (suppressed)"."""
    if cart.status is Status.CLOSED and cart.close_reason is not None:
        return f"closed ({CLOSE_LABELS.get(cart.close_reason, cart.close_reason)})"
    return str(cart.status)


def tier_of(cart: Cart, rules: Rules) -> str:
    return "custom" if cart.wait_override is not None else rules.tier_for(cart.total).name


@dataclass(frozen=True)
class CartRow:
    cart: Cart
    created: str
    total: str
    tier: str
    status: str
    status_class: str
    reminders: tuple[str, ...]
    outcome: str
    outcome_class: str
    attribution: Attribution
    sent: int


def cart_rows(
    carts: Iterable[Cart],
    sends: dict[str, list[SendRecord]],
    clicks: dict[str, list[tuple[int, datetime]]],
    rules: Rules,
    fmt: Fmt,
    *,
    short_times: bool = False,
) -> list[CartRow]:
    rows = []
    for cart in carts:
        records = sends.get(cart.cart_id, [])
        kind = attribution(cart, records, clicks.get(cart.cart_id, []))
        outcome, outcome_class = ATTRIBUTION_LABELS[kind]
        status, status_class = status_of(cart)
        created = fmt.clock(cart.created_at) if short_times else fmt.when(cart.created_at)
        rows.append(
            CartRow(
                cart=cart,
                created=created,
                total=fmt.money(cart.total, cart.currency),
                tier=tier_of(cart, rules),
                status=status,
                status_class=status_class,
                reminders=tuple(
                    f"{ORDINALS.get(r.step, f'step {r.step}')} "
                    + step_label(r, fmt, short=short_times)
                    for r in records
                ),
                outcome=outcome,
                outcome_class=outcome_class,
                attribution=kind,
                sent=sum(1 for r in records if r.outcome is Outcome.SENT),
            )
        )
    return rows


@dataclass(frozen=True)
class Tiles:
    carts: int
    sent: int
    recovered: int
    clicked: int
    won_back: str
    own: int
    open: int


def tiles(rows: Sequence[CartRow], fmt: Fmt) -> Tiles:
    won: dict[str, Decimal] = {}
    for r in rows:
        if r.attribution.recovered:
            won[r.cart.currency] = won.get(r.cart.currency, Decimal(0)) + r.cart.total
    money = " + ".join(fmt.money(v, c) for c, v in sorted(won.items())) or fmt.money(
        Decimal(0), "USD"
    )
    return Tiles(
        carts=len(rows),
        sent=sum(r.sent for r in rows),
        recovered=sum(1 for r in rows if r.attribution.recovered),
        clicked=sum(1 for r in rows if r.attribution is Attribution.CLICKED_THEN_BOUGHT),
        won_back=money,
        own=sum(1 for r in rows if r.attribution is Attribution.CAME_BACK_ON_OWN),
        open=sum(1 for r in rows if r.cart.status is Status.OPEN),
    )


# ---- one cart -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """One line of a cart's timeline."""

    at: datetime
    kind: str  # event, sent, skipped, waiting, click, next, closed
    title: str
    detail: str = ""
    order: int = 0


def _items_summary(items: Sequence[Item] | None) -> str:
    if not items:
        return ""
    count = sum(i.quantity for i in items)
    return f"{count} item{'s' if count != 1 else ''}"


def timeline(
    cart: Cart,
    events: Sequence[StoredEvent],
    sends: Sequence[SendRecord],
    clicks: Sequence[tuple[int, datetime]],
    rules: Rules,
    fmt: Fmt,
) -> list[Moment]:
    out: list[Moment] = []
    titles = {
        "cart.updated": "Cart updated",
        "cart.checked_out": "Checked out",
        "cart.saved": "Saved the cart for later",
    }
    for i, stored in enumerate(events):
        e = stored.event
        bits = [_items_summary(e.items)]
        if e.total is not None:
            bits.append(fmt.money(e.total, e.currency or cart.currency))
        if e.type == "cart.updated" and i == 0:
            title = "Cart started"
        else:
            title = titles.get(e.type, e.type)
        out.append(Moment(e.occurred_at, "event", title, " · ".join(b for b in bits if b), 0))
    for r in sends:
        name = STEP_NAMES.get(r.step, f"Step {r.step}")
        if r.outcome is Outcome.SENT:
            to = f"to {r.recipient}" if r.recipient else ""
            out.append(Moment(r.at, "sent", f"{name} sent", to, 1))
        elif r.outcome is Outcome.SKIPPED:
            reason = SKIP_LABELS.get(r.reason or "", r.reason or "")
            out.append(Moment(r.at, "skipped", f"{name} skipped", reason, 1))
        elif r.outcome is Outcome.DEFERRED:
            why = "quiet hours" if r.reason == "quiet_hours" else "the mail server refused it"
            out.append(
                Moment(r.at, "waiting", f"{name} held back", f"{why}: goes at {fmt.when(r.due)}")
            )
        elif r.outcome is Outcome.UNCERTAIN:
            out.append(
                Moment(r.at, "skipped", f"{name} uncertain", "interrupted mid-send; never resent")
            )
        else:
            out.append(Moment(r.at, "waiting", f"{name} being sent", ""))
    for step, at in clicks:
        out.append(
            Moment(at, "click", "Clicked the link", f"in the {STEP_NAMES.get(step, 'reminder')}")
        )
    if cart.status is Status.BOUGHT and cart.bought_at is not None:
        pass  # the checkout event says it
    elif cart.status is Status.CLOSED and cart.closed_at is not None:
        label, _ = status_of(cart)
        out.append(Moment(cart.closed_at, "closed", label, "no more reminders", 2))
    if cart.is_open:
        pending = [r for r in sends if r.outcome is Outcome.DEFERRED and r.due is not None]
        nxt = next_on_timeline(cart, sends, rules)
        if pending:
            r = pending[0]
            assert r.due is not None
            title = f"Next: {STEP_NAMES.get(r.step, 'reminder')}"
            out.append(Moment(r.due, "next", title, "after quiet hours", 3))
        elif nxt.step is None:
            out.append(Moment(nxt.at, "next", "Next: closes (no answer)", "", 3))
        else:
            moved = quiet_until(nxt.at, zone_for(cart.timezone, rules), rules.quiet)
            detail = f"due {fmt.when(nxt.at)}; quiet hours move it" if moved else ""
            title = f"Next: {STEP_NAMES.get(nxt.step, 'reminder')}"
            out.append(Moment(moved or nxt.at, "next", title, detail, 3))
    out.sort(key=lambda m: (m.at, m.order))
    return out


@dataclass(frozen=True)
class AuditLine:
    at: str
    by: str
    action: str
    changes: tuple[str, ...]
    detail: str


_SHOWN_FIELDS = (
    "status",
    "close_reason",
    "email",
    "name",
    "total",
    "currency",
    "bought_at",
    "closed_at",
    "abandoned_at",
    "saved_link",
    "items",
)


def _value(key: str, v: Any, fmt: Fmt) -> str:
    if v is None or v == []:
        return "—"
    if isinstance(v, list):
        return f"{len(v)} line{'s' if len(v) != 1 else ''}"
    if key.endswith("_at") and isinstance(v, str):
        try:
            return fmt.when(datetime.fromisoformat(v.replace("Z", "+00:00")))
        except ValueError:
            return v
    return str(v).replace("_", " ")


def audit_lines(entries: Iterable[AuditEntry], fmt: Fmt) -> list[AuditLine]:
    out = []
    for a in entries:
        before, after = a.before or {}, a.after or {}
        changes = []
        for key in _SHOWN_FIELDS:
            if before.get(key) != after.get(key) and (a.before is not None or after.get(key)):
                old = _value(key, before.get(key), fmt) if a.before is not None else ""
                new = _value(key, after.get(key), fmt)
                label = key.replace("_", " ")
                changes.append(f"{label}: {old} → {new}" if old else f"{label}: {new}")
        out.append(
            AuditLine(
                at=fmt.when(a.at),
                by=a.by,
                action=a.action.replace("_", " "),
                changes=tuple(changes),
                detail=a.detail or "",
            )
        )
    return out


@dataclass(frozen=True)
class ShownEmail:
    step: int
    source: str  # "outbox" or "recomposed"
    subject: str
    to: str
    sent: str
    text: str
    file: str = ""


def _text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    if part is None or not isinstance(part, EmailMessage):
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    if part is None or not isinstance(part, EmailMessage):
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def recompose(
    service: Service, cart: Cart, step: int, at: datetime, voice: Voice | None = None
) -> OutgoingEmail | None:
    """The reminder as the current voice doc (or ``voice``, an edited one) writes it (None: it
    cannot be, e.g. forgotten)."""
    if not cart.email:
        return None
    try:
        return compose(
            cart,
            step,
            voice if voice is not None else service.docs.voice(),
            sender=service.sender,
            links=service.links.for_step(cart.cart_id, step, cart.email),
            opening=None,
            message_id_domain=service.message_id_domain,
            now=at,
            default_locale=service.default_locale,
        )
    except ComposeError:
        return None


def outbox_message(mailer: Mailer, record: SendRecord) -> MailCopy | None:
    """The copy the mailer kept of a sent reminder (only a mailer that keeps copies has one)."""
    if not isinstance(mailer, KeepsCopies) or not record.message_id:
        return None
    return mailer.find_copy(record.message_id)


def shown_emails(
    service: Service, cart: Cart, sends: Sequence[SendRecord], fmt: Fmt
) -> list[ShownEmail]:
    out = []
    for r in sends:
        if r.outcome not in (Outcome.SENT, Outcome.UNCERTAIN):
            continue
        found = outbox_message(service.mailer, r)
        if found is not None:
            message = found.message
            out.append(
                ShownEmail(
                    step=r.step,
                    source="outbox",
                    subject=str(message.get("Subject", "")),
                    to=str(message.get("To", "")),
                    sent=fmt.when(r.at),
                    text=_text_part(message),
                    file=found.name,
                )
            )
            continue
        email = recompose(service, cart, r.step, r.at)
        if email is not None:
            out.append(
                ShownEmail(
                    step=r.step,
                    source="recomposed",
                    subject=email.subject,
                    to=email.to,
                    sent=fmt.when(r.at),
                    text=email.text,
                )
            )
    return out
