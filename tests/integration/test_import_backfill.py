"""``cart-recovery import`` in-process: the progress bar, and a backfill of stale carts that the
timer loop then runs over without a single email."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from click.testing import CliRunner

from cart_recovery.bootstrap.embedded import embedded, init_data_dir
from cart_recovery.cli import main
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.compose import OutgoingEmail
from cart_recovery.embedded.clock import VirtualClock

# The data folder comes from --data-dir, never from the environment the tests run in.
CLEAN: dict[str, str | None] = {"CART_RECOVERY_DATA_DIR": None}


class Collect:
    def __init__(self) -> None:
        self.sent: list[EmailMessage | OutgoingEmail] = []

    def send(self, message: EmailMessage | OutgoingEmail) -> None:
        self.sent.append(message)


def backfill(path: Path, now: datetime, days_old: float, carts: int) -> None:
    rows = []
    for n in range(carts):
        rows.append(
            {
                "cart_id": f"old-{n}",
                "occurred_at": (now - timedelta(days=days_old, minutes=n)).isoformat(),
                "email": f"shopper{n}@example.com",
                "items": [{"title": "Linen shirt", "quantity": 1, "unit_price": "68.00"}],
                "currency": "USD",
                "return_url": f"https://shop.example/cart/{n}",
            }
        )
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_import_shows_a_progress_bar_when_asked(tmp_path: Path) -> None:
    # Given a data folder and a small backfill
    data = tmp_path / "data"
    init_data_dir(data)
    events = tmp_path / "carts.jsonl"
    backfill(events, datetime.now(UTC), days_old=9, carts=3)
    # When it is imported with --progress
    result = CliRunner().invoke(
        main, ["import", str(events), "--progress", "--data-dir", str(data)], env=CLEAN
    )
    # Then the bar is drawn on stderr and the summary goes to stdout
    assert result.exit_code == 0, result.output
    assert "importing" in result.stderr and "3/3" in result.stderr
    assert "imported 3 event(s) for 3 cart(s)" in result.stdout
    # And without --progress (not a terminal) there is no bar
    quiet = CliRunner().invoke(main, ["import", str(events), "--data-dir", str(data)], env=CLEAN)
    assert quiet.exit_code == 0 and "importing" not in quiet.stderr
    assert "imported 0 event(s)" in quiet.stdout and "3 already there" in quiet.stdout


def test_an_imported_backlog_of_stale_carts_is_never_reminded(tmp_path: Path) -> None:
    # Given carts left 8 days ago (past the 7-day maximum age), imported now
    data = tmp_path / "data"
    init_data_dir(data)
    now = datetime.now(UTC)
    events = tmp_path / "carts.jsonl"
    backfill(events, now, days_old=8, carts=5)
    result = CliRunner().invoke(main, ["import", str(events), "--data-dir", str(data)], env=CLEAN)
    assert result.exit_code == 0, result.output
    # When the service runs its timers over them for the next ten days
    mail = Collect()
    clock = VirtualClock(now)
    rt = embedded(load_settings(data, {}), clock=clock, mailer=mail, run_timers=False)
    try:
        end = now + timedelta(days=10)
        while (due := rt.store.next_due()) is not None and due <= end:
            clock.set(max(due, clock.now()))
            rt.loop.run_due(clock.now())
        # Then not one email went out, every cart is closed as too old, nothing is pending
        assert mail.sent == []
        for n in range(5):
            cart, sends = rt.store.load(f"old-{n}")
            assert cart is not None and cart.close_reason == "too_old"
            assert [s for s in sends if s.outcome == "sent"] == []
        assert rt.store.pending() == 0
    finally:
        rt.close()
