"""The attack catalog against a live service: every attack must be refused and change nothing.

One test case per attack of ``reliability/attacks.py``, in catalog order, against one service
for the module (some attacks reuse what earlier ones set up, and the last one, the secrets
check, reads every log record and HTTP answer of the run). The figures (attacks tried,
refused) are written to test-output/attacks.json for the docs when the module is done.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reliability.attacks import CATALOG, Attack, Outcome, recording, report
from tests.e2e.harness import LiveService

NY = ZoneInfo("America/New_York")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "attacks.json"


def start_time() -> datetime:
    """10:00 in New York on today's date: signed owner links carry the real time, so the
    virtual clock starts close to it (the 14-day expiry is measured between the two)."""
    today = datetime.now(NY).date()
    return datetime(today.year, today.month, today.day, 10, 0, tzinfo=NY)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    service = LiveService(tmp_path_factory.mktemp("attacks") / "data", start_time())
    try:
        with recording(service):
            yield service
    finally:
        service.close()


@pytest.fixture(scope="module")
def outcomes() -> Iterator[list[Outcome]]:
    """Every attack's outcome, written for the docs once the module's cases have run."""
    seen: list[Outcome] = []
    yield seen
    if seen:
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        OUTPUT.write_text(json.dumps(report(seen), indent=2) + "\n", encoding="utf-8")


def test_the_catalog_is_large_and_each_attack_has_its_own_name() -> None:
    assert len(CATALOG) >= 25, f"the catalog has only {len(CATALOG)} attacks"
    assert len({a.name for a in CATALOG}) == len(CATALOG)
    assert CATALOG[-1].area == "secrets"  # reads the traces of all the others


@pytest.mark.e2e
@pytest.mark.parametrize("attack", CATALOG, ids=[a.name for a in CATALOG])
def test_the_attack_is_refused_and_changes_nothing(
    attack: Attack, live: LiveService, outcomes: list[Outcome]
) -> None:
    outcome = attack(live)
    outcomes.append(outcome)
    assert outcome.refused, f"{attack.summary}: NOT refused: {outcome.detail}"
