"""The pending-timers benchmark runs end to end in quick mode and reports sane numbers. No timing
thresholds: the figures depend on the machine; only their shape and the bookkeeping (every due
cart reminded exactly once, every accepted event stored) are checked."""

from __future__ import annotations

import math

import pytest

from bench import pending

pytestmark = pytest.mark.e2e


def test_quick_run_fires_every_due_cart_once_and_stores_every_accepted_event() -> None:
    # Given 20,000 carts waiting, 250 of them due during a 5-second window
    # When the service runs that window under half its measured ingest capacity
    [(name, run)] = pending.run_once(pending.QUICK_N, quick=True).items()

    # Then every figure is a positive, finite number
    assert name == "pending.service"
    for key in (
        "rate",
        "peak_rss_mb",
        "lateness_p99_ms",
        "delivered_p99_ms",
        "ingest_rate",
        "capacity_rate",
        "db_mb",
        "seed_seconds",
    ):
        assert math.isfinite(run[key]) and run[key] > 0, (key, run[key])
    assert math.isfinite(run["lateness_p50_ms"]) and run["lateness_p50_ms"] >= 0
    assert run["peak_rss_mb"] >= run["rss_at_start_mb"] > 0
    # and every due cart got exactly one reminder, and nobody else got one
    assert run["pending"] == pending.QUICK_N
    assert run["fired"] == run["due"] > 0
    assert run["outcomes"] == {"sent": run["due"]}
    assert run["emails_received"] == run["due"]
    assert run["duplicate_emails"] == 0 and run["other_sends"] == 0
    # and every event answered 200 was stored, and nothing else was
    assert run["ingest_accepted"] == run["ingest_stored"] > 0
    assert run["capacity_accepted"] == run["capacity_stored"] > 0
    assert run["stored_without_2xx"] == 0
    assert run["pending_after"] == run["pending"] + run["ingest_stored"] + run["capacity_stored"]
    assert pending.RATIOS == {}
