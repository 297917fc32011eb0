"""The attack catalog against a live service: every attack must be refused and change nothing.

The figures (attacks tried, refused) are written to test-output/attacks.json for the docs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reliability.attacks import CATALOG, run_all, table
from tests.e2e.harness import LiveService

pytestmark = pytest.mark.e2e

NY = ZoneInfo("America/New_York")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "attacks.json"


def start_time() -> datetime:
    """10:00 in New York on today's date: signed owner links carry the real time, so the
    virtual clock starts close to it (the 14-day expiry is measured between the two)."""
    today = datetime.now(NY).date()
    return datetime(today.year, today.month, today.day, 10, 0, tzinfo=NY)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveService]:
    service = LiveService(tmp_path / "data", start_time())
    yield service
    service.close()


def test_every_attack_is_refused_and_changes_nothing(live: LiveService) -> None:
    outcomes = run_all(live)
    refused = [o for o in outcomes if o.refused]
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(
        json.dumps(
            {
                "attacks": len(outcomes),
                "refused": len(refused),
                "outcomes": [
                    {"name": o.name, "refused": o.refused, "detail": o.detail} for o in outcomes
                ],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    assert len(CATALOG) >= 25, f"the catalog has only {len(CATALOG)} attacks"
    assert len(outcomes) == len(CATALOG)
    not_refused = [o.name for o in outcomes if not o.refused]
    assert not not_refused, (
        f"{len(not_refused)} of {len(outcomes)} attacks were NOT refused: {not_refused}\n"
        + table(outcomes)
    )
