"""The load harness in a shortened form: a fixed rate of signed events for a bounded time
against the real service process while reminders fall due; every 2xx is in the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.load import run

pytestmark = pytest.mark.e2e


def test_every_accepted_event_is_stored_while_reminders_fire(tmp_path: Path) -> None:
    result = run(rate=80.0, seconds=8.0, connections=8, work=tmp_path)
    assert result["accepted"] == result["stored"] > 0
    assert result["stored_without_2xx"] == 0
    assert result["emails_received"] > 0  # wake-ups fired during the load
    assert set(result["errors"]) <= {"401"}  # only signatures that aged out in a queue
