"""The AWS calls a cart event and a wake-up cost, counted through botocore's event hooks on a
few carts of ``bench/aws_calls.py``'s month (one of each kind: bought before any reminder,
after the first, after the second, never). Counts, not timings: the same on every run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.aws_calls import START, measure
from tests.aws.world import World, world

pytestmark = pytest.mark.aws


@pytest.fixture(scope="module")
def counts(moto_server: str, dynamodb_local: str) -> Iterator[dict[str, Any]]:
    with world(moto_server, dynamodb_local, START) as w:
        yield count(w)


def count(w: World) -> dict[str, Any]:
    result: dict[str, Any] = measure(w, carts=6, seed=3)
    return result


def test_every_kind_of_cart_and_wake_up_was_exercised(counts: dict[str, Any]) -> None:
    assert set(counts["kinds"]) == {"before", "after_first", "after_second", "never"}
    assert set(counts["events"]) == {"created", "updated", "checked_out"}
    assert counts["fires"].get("reminder", 0) > 0 and counts["fires"].get("no_reminder", 0) > 0
    assert counts["reminders_sent"] > 0


def test_a_cart_event_is_one_dynamodb_transaction_of_at_most_three_items(
    counts: dict[str, Any],
) -> None:
    for kind in ("created", "updated", "checked_out"):
        per = counts[f"per_event_{kind}"]
        assert per["dynamodb_writes"] == 1.0, (kind, per["calls"])
        assert per["dynamodb_items_written"] <= 3, (kind, per)
        assert per["dynamodb_unmetered"] == 0, (kind, per)
        assert per["dynamodb_wcu"] > 0 and per["dynamodb_rcu"] > 0, (kind, per)
        assert per["sqs"] == 1.0 and per["lambda"] == 2.0, (kind, per)  # ingest + intake
    assert counts["targets"]["dynamodb_writes_per_event"]["met"]


def test_scheduler_calls_per_event_one_on_the_carts_one_schedule(
    counts: dict[str, Any],
) -> None:
    # A new cart creates its schedule; a re-timing updates it in place; a checkout deletes it.
    expected = {
        "created": {"scheduler.CreateSchedule": 1.0},
        "updated": {"scheduler.UpdateSchedule": 1.0},
        "checked_out": {"scheduler.DeleteSchedule": 1.0},
    }
    for kind, calls in expected.items():
        made = counts[f"per_event_{kind}"]["calls"]
        assert {k: v for k, v in made.items() if k.startswith("scheduler.")} == calls, kind
    assert counts["targets"]["scheduler_per_event"]["met"]


def test_each_function_run_of_a_fired_schedule_changes_the_schedule_once_at_most(
    counts: dict[str, Any],
) -> None:
    # The waiter's next wake-up (or the look-again after a hand-off) and the sender's next one
    # update the schedule that fired; the cart's end deletes it. Nothing is made anew, and
    # nothing is deleted twice.
    for kind in ("reminder", "no_reminder", "deferred_reminder"):
        per = counts.get(f"per_fire_{kind}")
        if per is None:
            continue
        scheduler = {k: v for k, v in per["calls"].items() if k.startswith("scheduler.")}
        assert sum(scheduler.values()) <= sum(per["invocations"].values()), (kind, per)
        assert "scheduler.CreateSchedule" not in scheduler, (kind, scheduler)


def test_each_fired_schedule_invokes_one_function_and_a_hand_off_one_more(
    counts: dict[str, Any],
) -> None:
    # A deferred reminder's schedule targets the sender itself: one invocation
    deferred = counts.get("per_fire_deferred_reminder")
    if deferred is not None:
        assert deferred["invocations"] == {"sender": 1.0}
    # A wake-up invokes the waiter once; a reminder it hands off over EventBridge runs the
    # sender once more (one PutEvents each)
    for kind in ("reminder", "no_reminder"):
        per = counts[f"per_fire_{kind}"]
        assert per["invocations"].get("waiter") == 1.0, (kind, per)
        assert per["invocations"].get("sender", 0.0) == per["eventbridge"], (kind, per)
    assert counts["per_reminder"]["ses"] == 1.0


def test_config_and_secrets_are_read_at_cold_starts_only(counts: dict[str, Any]) -> None:
    warm = counts["per_warm_invocation"]
    assert warm["ssm"] == 0 and warm["secretsmanager"] == 0, warm["calls"]
    cold = counts["per_cold_start"]
    assert 0 < cold["ssm"] <= 1 and cold["secretsmanager"] <= 1, cold["calls"]
