"""The crash harness in a shortened form: the real service process, SIGKILLed and restarted
while a workload runs on an accelerated clock; every promise checked against the SMTP server."""

from __future__ import annotations

from pathlib import Path

import pytest

from cart_recovery.service.waking import WAKE_CHUNK
from reliability.crash import run

pytestmark = pytest.mark.e2e


def test_crashes_never_duplicate_never_send_after_a_stop_and_lose_nothing(
    tmp_path: Path,
) -> None:
    result = run(
        carts=400, kills=5, speed=3600.0, span_hours=6.0, seed=11, workers=8, work=tmp_path
    )
    assert result["problems"] == []
    assert result["kills"] == 5
    assert result["duplicates"] == 0
    assert result["sends_after_stop"] == 0
    assert result["quiet_hours_sends"] == 0
    assert result["max_uncertain_per_kill"] <= WAKE_CHUNK == 16
    assert result["events_accepted"] == result["events_stored"] > 0
    assert result["emails_received"] > 100
