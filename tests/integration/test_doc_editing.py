"""Editing the owner's docs through the service, over the files in the data folder and each
store: versions, the stale-save refusal, hand edits, the audit, and the next wake-up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cart_recovery.adapters.files import FileDocs
from cart_recovery.adapters.mail import MemoryMailer
from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.adapters.sqlite import SqliteStore
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.domain.rules import DEFAULT_RULES_TEXT
from cart_recovery.domain.voice import DEFAULT_VOICE_TEXT
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import DocRefused, Sent
from cart_recovery.simulation.replay import Replay
from tests.conftest import make_event

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
SLOW = DEFAULT_RULES_TEXT.replace("Medium carts: 2 hours", "Medium carts: 5 hours")
QUIET = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: 10pm to 8am.")
BAD = DEFAULT_RULES_TEXT.replace("Quiet hours: 9pm to 8am.", "Quiet hours: whenever.")


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, day, hour, minute, tzinfo=NY)


class World:
    def __init__(self, store: Any, folder: Path) -> None:
        (folder / "rules.txt").write_text(DEFAULT_RULES_TEXT, encoding="utf-8")
        (folder / "voice.txt").write_text(DEFAULT_VOICE_TEXT, encoding="utf-8")
        self.folder = folder
        self.store = store
        self.docs = FileDocs(folder / "rules.txt", folder / "voice.txt", folder / "doc-history")
        self.mailer = MemoryMailer()
        self.service = in_memory(store=store, mailer=self.mailer, docs=self.docs)
        self.clock = VirtualClock(START)
        self.replay = Replay(self.service, store, self.clock)


@pytest.fixture(params=["memory", "sqlite"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "db.sqlite3")
    yield World(store, tmp_path)
    if isinstance(store, SqliteStore):
        store.close()


def test_two_owners_edit_from_the_same_version_and_nothing_is_lost(world: World) -> None:
    # Given two sessions that opened the rules at the same version
    base = world.service.doc_history("rules")[0].version.version
    # When the first saves, then the second
    first = world.service.save_doc(
        "rules", SLOW, base=base, by="Ann", now=START, note="slower medium carts"
    )
    with pytest.raises(DocRefused) as refused:
        world.service.save_doc("rules", QUIET, base=base, by="Bob", now=START)
    # Then the second is refused with a message, its text handed back intact
    assert refused.value.code == "stale"
    assert "rules changed since you opened it" in str(refused.value)
    assert "by Ann" in str(refused.value)
    assert refused.value.text == QUIET
    assert refused.value.current == first
    # And the first save is the current version, served and on disk; nothing was overwritten
    history = world.service.doc_history("rules")
    assert [h.version.text for h in history] == [SLOW, DEFAULT_RULES_TEXT]
    assert (history[0].version.by, history[0].version.note) == ("Ann", "slower medium carts")
    assert (world.folder / "rules.txt").read_text(encoding="utf-8") == SLOW
    # And Bob, saving his text again on top of Ann's version, keeps his work too
    world.service.save_doc("rules", QUIET, base=first.version, by="Bob", now=START)
    assert [h.version.by for h in world.service.doc_history("rules")][:2] == ["Bob", "Ann"]


def test_a_save_is_audited_with_a_short_diff_summary(world: World) -> None:
    base = world.service.doc_history("rules")[0].version.version
    world.service.save_doc("rules", SLOW, base=base, by="Ann", now=START, note="slower\nplease")
    [row] = world.store.audit("doc:rules")
    assert (row.by, row.action, row.at) == ("Ann", "rules changed", START)
    assert row.detail == "rules changed by Ann: +1 \u22121 lines (version 000002): slower please"
    entry = world.service.doc_history("rules")[0]
    assert entry.summary == "+1 \u22121 lines"
    assert "-Medium carts: 2 hours, then 22." in entry.diff.splitlines()
    assert "+Medium carts: 5 hours, then 22." in entry.diff.splitlines()


def test_a_save_is_refused_while_a_problem_remains(world: World) -> None:
    base = world.service.doc_history("rules")[0].version.version
    with pytest.raises(DocRefused) as refused:
        world.service.save_doc("rules", BAD, base=base, by="Ann", now=START)
    assert refused.value.code == "problems"
    assert [p.line for p in refused.value.problems] == [4]
    assert "line 4" in str(refused.value)
    assert refused.value.text == BAD
    assert len(world.service.doc_history("rules")) == 1
    assert world.store.audit("doc:rules") == []


def test_restore_writes_a_new_version_with_the_old_text(world: World) -> None:
    first = world.service.doc_history("rules")[0].version
    world.service.save_doc("rules", SLOW, base=first.version, by="Ann", now=START)
    restored = world.service.restore_doc("rules", first.version, by="Bob", now=ny(12, 11))
    assert (restored.text, restored.source, restored.by) == (DEFAULT_RULES_TEXT, "restore", "Bob")
    assert [h.version.version for h in world.service.doc_history("rules")] == [
        "000003",
        "000002",
        "000001",
    ]
    assert world.store.audit("doc:rules")[-1].action == "rules restored"


def test_a_hand_edit_on_disk_shows_in_the_history(world: World) -> None:
    world.service.doc_history("rules")
    (world.folder / "rules.txt").write_text(QUIET, encoding="utf-8")
    newest = world.service.doc_history("rules")[0]
    assert (newest.version.by, newest.version.source) == ("edited on disk", "disk")
    assert newest.summary == "+1 \u22121 lines"


def test_after_a_save_the_next_wake_up_of_a_seeded_cart_uses_the_new_wait(world: World) -> None:
    # Given a medium cart left at 10am: its first reminder is due at noon under the rules
    world.replay.feed([make_event(occurred_at=START, timezone="America/New_York")])
    base = world.service.doc_history("rules")[0].version.version
    # When at 11am the owner saves rules with a 5-hour first wait (no restart)
    world.replay.at(
        ny(12, 11), lambda now: world.service.save_doc("rules", SLOW, base=base, by="Ann", now=now)
    )
    world.replay.run_until(ny(12, 23))
    out = world.replay.happenings
    # Then the first reminder goes at 3pm, by the new wait
    assert [(h.step, h.at) for h in out if isinstance(h, Sent)] == [(1, ny(12, 15))]
