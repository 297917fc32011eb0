"""``cart-recovery demo``: the series' story on a virtual clock, over the real service code and a
temporary SQLite store. Emails are written to a folder as .eml files."""

from __future__ import annotations

import email
import email.policy
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from cart_recovery.adapters.mail import OutboxMailer
from cart_recovery.bootstrap.embedded import Embedded, embedded, init_data_dir
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.model import CHECKED_OUT, UPDATED, Cart, CartEvent, Item
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import Closed, Deferred, Happening, Sent, Skipped, Stopped
from cart_recovery.simulation.replay import Replay

NY = ZoneInfo("America/New_York")


def _local(t: datetime) -> str:
    return t.astimezone(NY).strftime("%a %b %-d, %-I:%M %p")


def _items() -> tuple[Item, ...]:
    return (
        Item(title="Linen shirt", quantity=1, unit_price=Decimal("68.00")),
        Item(title="Beeswax candle", quantity=2, unit_price=Decimal("18.00")),
        Item(title="Canvas tote", quantity=1, unit_price=Decimal("16.00")),
    )


def run_demo(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.eml"):
        old.unlink()
    start = datetime(2026, 5, 12, 19, 25, tzinfo=NY)
    clock = VirtualClock(start)

    with tempfile.TemporaryDirectory(prefix="cart-recovery-demo-") as tmp:
        data = Path(tmp)
        init_data_dir(data)
        settings = load_settings(data, {"CART_RECOVERY_BASE_URL": "https://shop.example/recover"})
        mailer = OutboxMailer(out)
        rt = embedded(settings, clock=clock, mailer=mailer, run_timers=False)
        replay = Replay(rt.service, rt.store, clock)
        rt.service.on_happening = _narrate

        click.echo("cart-recovery demo: the default rules, a virtual clock, a real SQLite store\n")
        _stage(replay, rt, mailer, start)
        replay.run_until(start + timedelta(days=9))
        _say(clock.now(), "(nine days later: nothing more was sent)")

        happenings = replay.happenings
        cart, _ = rt.store.load("cart-maya")
        rt.close()
    return _sum_up(out, happenings, cart)


def _say(now: datetime, text: str) -> None:
    click.echo(f"{_local(now):>22}  {text}")


def _narrate(h: Happening) -> None:
    """One line of the story for what the service just did."""
    if isinstance(h, Sent):
        _say(h.at, f"✉  reminder {h.step} sent to {h.recipient} ({h.cart_id})")
    elif isinstance(h, Deferred):
        _say(
            h.due,
            f"☾  reminder {h.step} for {h.cart_id} fell due in "
            f"quiet hours: deferred to {_local(h.at)}",
        )
    elif isinstance(h, Skipped):
        _say(h.at, f"–  reminder {h.step} for {h.cart_id} skipped: {h.reason}")
    elif isinstance(h, Closed):
        _say(h.at, f"■  {h.cart_id} closed: {h.reason}")
    elif isinstance(h, Stopped):
        _say(h.at, f"■  reminder {h.step} for {h.cart_id} stopped: {h.why}")


def _stage(replay: Replay, rt: Embedded, mailer: OutboxMailer, start: datetime) -> None:
    """The shoppers' moves, each at its time: Maya's cart, Jordan's cart, Jordan's
    unsubscribe, Maya's checkout."""

    def arrives(event: CartEvent, text: str) -> Callable[[datetime], None]:
        def run(now: datetime) -> None:
            rt.service.ingest(event, now)
            _say(now, text)

        return run

    replay.at(
        start,
        arrives(
            _maya(start),
            "🛒 Maya leaves a $120 cart (linen shirt, two candles, a tote) on the shipping page",
        ),
    )
    jordan_at = start + timedelta(hours=14, minutes=35)  # 10:00 the next morning
    replay.at(jordan_at, arrives(_jordan(jordan_at), "🛒 Jordan leaves a $45 wool throw in a cart"))

    def jordan_unsubscribes(now: datetime) -> None:
        sent = [p for p in mailer.list() if "jordan" in p.read_text(errors="replace")]
        msg = email.message_from_bytes(sent[-1].read_bytes(), policy=email.policy.default)
        url = str(msg["List-Unsubscribe"]).strip("<>")
        token = url.rsplit("/u/", 1)[1]
        rt.service.unsubscribe_link(rt.tokens.read_unsubscribe_link(token), now, source="shopper")
        _say(now, "🚫 Jordan presses Unsubscribe in the mail client (RFC 8058 one-click)")

    replay.at(jordan_at + timedelta(hours=2, minutes=30), jordan_unsubscribes)
    checkout_at = datetime(2026, 5, 13, 20, 25, tzinfo=NY)
    paid = CartEvent(
        event_id="maya-2",
        type=CHECKED_OUT,
        cart_id="cart-maya",
        occurred_at=checkout_at,
    )
    replay.at(checkout_at, arrives(paid, "💳 Maya clicks through and checks out: the chase stops"))


def _maya(at: datetime) -> CartEvent:
    return CartEvent(
        event_id="maya-1",
        type=UPDATED,
        cart_id="cart-maya",
        occurred_at=at,
        email="maya@example.com",
        name="Maya",
        items=_items(),
        total=Decimal("120.00"),
        currency="USD",
        return_url="https://shop.example/cart/maya",
        timezone="America/New_York",
    )


def _jordan(at: datetime) -> CartEvent:
    return CartEvent(
        event_id="jordan-1",
        type=UPDATED,
        cart_id="cart-jordan",
        occurred_at=at,
        email="jordan@example.com",
        name="Jordan",
        items=(Item(title="Wool throw", quantity=1, unit_price=Decimal("45.00")),),
        currency="USD",
        return_url="https://shop.example/cart/jordan",
    )


def _sum_up(out: Path, happenings: list[Happening], cart: Cart | None) -> int:
    """The closing lines: what each shopper got, and the emails written; 0 if the story held."""
    maya_sends = [h for h in happenings if isinstance(h, Sent) and h.cart_id == "cart-maya"]
    jordan_sends = [h for h in happenings if isinstance(h, Sent) and h.cart_id == "cart-jordan"]
    deferrals = [h for h in happenings if isinstance(h, Deferred)]
    files = sorted(out.glob("*.eml"))
    click.echo(
        f"\nMaya: {len(maya_sends)} reminders, then a checkout (status "
        f"{cart.status if cart else '?'}); Jordan: {len(jordan_sends)} reminder, then "
        f"silence; quiet-hours deferrals: {len(deferrals)}."
    )
    click.echo(f"{len(files)} emails written to {out.resolve()}:")
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        click.echo(f"  {f.name}: To {msg['To']} · {msg['Subject']}")
    ok = len(maya_sends) == 2 and len(jordan_sends) == 1 and len(deferrals) == 1
    return 0 if ok else 1
