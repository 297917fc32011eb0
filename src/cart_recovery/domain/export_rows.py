"""The nightly export's rows (SPEC §9): one row per cart, read-only to the system. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from cart_recovery.domain.model import Outcome, SendRecord, Status
from cart_recovery.domain.rules import Rules
from cart_recovery.domain.stats import Attribution, CartFacts, attribution

ACTIONS = ("suppress", "unsubscribe_cart", "write_off")

EXPORT_WINDOW_DAYS = 14  # the nightly export: every cart with activity in these last days

# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = (
    "Cart",
    "Created",
    "Email",
    "Name",
    "Items",
    "Total",
    "Currency",
    "Size",
    "Status",
    "Reminder 1",
    "Reminder 2",
    "Clicked",
    "Recovered",
    "Bought",
    "Suppress",
    "Unsubscribe",
    "Write off",
)

_LABELS = {
    Attribution.CLICKED_THEN_BOUGHT: "yes: clicked, then bought",
    Attribution.BOUGHT_AFTER_REMINDER: "yes: bought after a reminder",
    Attribution.CAME_BACK_ON_OWN: "no: came back on their own",
    Attribution.BOUGHT_LATE: "no: bought more than 7 days later",
    Attribution.NOT_BOUGHT: "no",
}


@dataclass(frozen=True)
class Row:
    cells: dict[str, str | Decimal]
    links: dict[str, str]  # column → URL (the owner action links)

    @property
    def cart_id(self) -> str:
        return str(self.cells["Cart"])

    @property
    def month(self) -> str:
        """``YYYY-MM`` of the cart's creation, store time (its monthly archive)."""
        return str(self.cells["Created"])[:7]


def inert(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs it: a leading formula character is
    escaped with an apostrophe (what Excel and Sheets do for text typed that way)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _local(t: datetime | None, zone: ZoneInfo) -> str:
    return "" if t is None else t.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _step(record: SendRecord | None, zone: ZoneInfo) -> str:
    if record is None:
        return ""
    if record.outcome is Outcome.SENT:
        return f"sent {_local(record.at, zone)}"
    if record.outcome is Outcome.SKIPPED:
        return f"skipped: {record.reason or ''}".strip()
    if record.outcome is Outcome.DEFERRED:
        return f"deferred to {_local(record.due, zone)}"
    return f"{record.outcome} {_local(record.at, zone)}"


def export_rows(
    facts: Iterable[CartFacts],
    *,
    rules: Rules,
    action_url: Callable[[str, str], str],
) -> list[Row]:
    """``action_url(action, target)`` makes a signed owner action link (target: a cart id, or
    the address for ``unsubscribe``)."""
    zone = ZoneInfo(rules.store_timezone)
    rows = []
    for f in sorted(facts, key=lambda f: (f.cart.created_at, f.cart.cart_id)):
        cart = f.cart
        steps = {s.step: s for s in f.sends}
        open_cart = cart.is_open
        links: dict[str, str] = {}
        if open_cart:
            links["Suppress"] = action_url("suppress", cart.cart_id)
            links["Write off"] = action_url("write_off", cart.cart_id)
        if cart.email:
            links["Unsubscribe"] = action_url("unsubscribe_cart", cart.cart_id)
        status = str(cart.status)
        if cart.close_reason is not None and cart.status is Status.CLOSED:
            # (a cart bought after it was given up keeps the old reason: it is bought now)
            who = "" if f.closed_by is None else f" by {f.closed_by}"
            when = (
                ""
                if not who or cart.closed_at is None
                else f" on {_local(cart.closed_at, zone)[:10]}"
            )
            status += f" ({cart.close_reason}{who}{when})"
        cells: dict[str, str | Decimal] = {
            "Cart": cart.cart_id,
            "Created": _local(cart.created_at, zone),
            "Email": cart.email or "",
            "Name": cart.name or "",
            "Items": "; ".join(f"{i.quantity} × {i.title}" for i in cart.items),
            "Total": cart.total,
            "Currency": cart.currency,
            "Size": "custom" if cart.wait_override else rules.tier_for(cart.total).name,
            "Status": status,
            "Reminder 1": _step(steps.get(1), zone),
            "Reminder 2": _step(steps.get(2), zone),
            "Clicked": "yes" if f.clicks else "no",
            "Recovered": _LABELS[attribution(cart, f.sends, f.clicks)],
            "Bought": _local(cart.bought_at, zone),
            "Suppress": "suppress" if "Suppress" in links else "",
            "Unsubscribe": "unsubscribe" if "Unsubscribe" in links else "",
            "Write off": "write off" if "Write off" in links else "",
        }
        rows.append(Row(cells, links))
    return rows
