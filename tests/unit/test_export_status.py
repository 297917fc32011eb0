"""The export's Status says who closed a cart an owner suppressed or wrote off, and when."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import msgspec

from cart_recovery.domain.export_rows import export_rows
from cart_recovery.domain.model import Cart, CloseReason, Status
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT, parse_rules
from cart_recovery.domain.stats import CartFacts
from tests.conftest import T0, make_cart

RULES = parse_rules(DEFAULT_RULES_TEXT)


def status(facts: CartFacts) -> str:
    [row] = export_rows([facts], rules=RULES, action_url=lambda a, t: f"https://x/{a}/{t}")
    return str(row.cells["Status"])


def closed(reason: CloseReason) -> Cart:
    return msgspec.structs.replace(
        make_cart(), status=Status.CLOSED, close_reason=reason, closed_at=T0 + timedelta(days=3)
    )


def test_an_owner_close_names_the_owner_and_the_day() -> None:
    cart = closed(CloseReason.WRITTEN_OFF)
    zone = ZoneInfo(RULES.store_timezone)
    day = (T0 + timedelta(days=3)).astimezone(zone).date().isoformat()
    assert status(CartFacts(cart, closed_by="Sam")) == f"closed (written_off by Sam on {day})"


def test_a_close_without_its_owner_keeps_the_reason_alone() -> None:
    assert status(CartFacts(closed(CloseReason.GAVE_UP))) == "closed (gave_up)"
