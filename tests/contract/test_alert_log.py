"""The AlertLog contract, run against every adapter (memory, SQLite)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cart_recovery.adapters.memory import MemoryAlerts
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.domain.alerts import Alert, throttled_since
from tests.conftest import at


@pytest.fixture(params=["memory", "sqlite"])
def alert_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryAlerts()
    else:
        s = SqliteStore(tmp_path / "db.sqlite3")
        yield s
        s.close()


def alert(kind: str = "mail_failing", hours: float = 0) -> Alert:
    return Alert(kind, at(hours=hours), f"{kind} title", f"{kind} body\nwhat to do")


def test_a_recorded_alert_comes_back_with_an_id(alert_log: Any) -> None:
    kept = alert_log.record_alert(alert(), unless_since=throttled_since(at()))
    assert kept is not None and kept.id > 0 and not kept.dismissed
    assert (kept.kind, kept.at, kept.title, kept.body) == (
        "mail_failing",
        at(),
        "mail_failing title",
        "mail_failing body\nwhat to do",
    )
    assert alert_log.last_alert("mail_failing") == kept
    assert alert_log.last_alert("doc_refused") is None


def test_a_second_alert_of_a_kind_within_the_throttle_is_refused(alert_log: Any) -> None:
    first = alert_log.record_alert(alert(), unless_since=throttled_since(at()))
    again = alert(hours=5.99)
    assert alert_log.record_alert(again, unless_since=throttled_since(again.at)) is None
    other = alert("doc_refused", hours=1)
    assert alert_log.record_alert(other, unless_since=throttled_since(other.at)) is not None
    later = alert(hours=6)
    kept = alert_log.record_alert(later, unless_since=throttled_since(later.at))
    assert kept is not None and kept.id > first.id
    assert alert_log.last_alert("mail_failing") == kept


def test_recent_alerts_are_the_undismissed_ones_newest_first(alert_log: Any) -> None:
    old = alert_log.record_alert(alert("doc_refused"), unless_since=at(hours=-6))
    a = alert_log.record_alert(alert(hours=10), unless_since=at(hours=4))
    b = alert_log.record_alert(alert("uncertain_steps", hours=11), unless_since=at(hours=5))
    assert [x.id for x in alert_log.recent_alerts(at(hours=1))] == [b.id, a.id]
    assert [x.id for x in alert_log.recent_alerts(at())] == [b.id, a.id, old.id]
    assert alert_log.dismiss_alert(a.id) is True
    assert alert_log.dismiss_alert(a.id) is False  # already
    assert alert_log.dismiss_alert(9999) is False
    assert [x.id for x in alert_log.recent_alerts(at(hours=1))] == [b.id]
    # a dismissed alert still holds back another of its kind
    soon = alert(hours=12)
    assert alert_log.record_alert(soon, unless_since=soon.at - timedelta(hours=6)) is None
    last = alert_log.last_alert("mail_failing")
    assert last.id == a.id and last.dismissed


def test_concurrent_alerts_of_a_kind_keep_exactly_one(alert_log: Any) -> None:
    kept: list[Any] = []
    barrier = threading.Barrier(8)

    def raise_one() -> None:
        barrier.wait()
        kept.append(alert_log.record_alert(alert(), unless_since=throttled_since(at())))

    threads = [threading.Thread(target=raise_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([k for k in kept if k is not None]) == 1
