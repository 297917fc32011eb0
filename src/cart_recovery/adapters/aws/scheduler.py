"""Wake-ups as EventBridge Scheduler one-off schedules: one schedule per cart.

Each cart has one schedule, named from its cart id (hashed: names allow only ``[0-9a-zA-Z-_.]``
and 64 characters). A new wake-up or a quiet-hours deferral of the cart is the same schedule
updated in place (``UpdateSchedule``: a new time, and the waiter or the sender as its target),
so a cart event costs one Scheduler call: created for a new cart, updated when the wake-up
moves, deleted when nothing more is pending. A schedule that fired stays
(``ActionAfterCompletion=NONE``) until the cart's next wake-up updates it or the cart's end
deletes it, so Scheduler never deletes a schedule on its own, and can never delete a newer
wake-up of the same cart. Which timer is current lives in the cart's row, and the store
(``DynamoStore``) makes the schedule match it; this class only creates, updates and deletes,
tolerating "already exists" and "not found".

Schedules fire on the minute (Scheduler's precision is 60 seconds), so the ``at()`` time is the
due time rounded up to the next whole minute, never earlier: a wake-up may come late by under a
minute, never early. The expression is in the store's timezone (``ScheduleExpressionTimezone``);
a local time that a daylight-saving change makes ambiguous or skips is written in UTC instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cart_recovery.adapters.aws.errors import client_error_type, error_code
from cart_recovery.domain.timers import Timer, TimerKind
from cart_recovery.ports import Clock

log = logging.getLogger("cart_recovery.aws.scheduler")

EVENT_SOURCE = "cart-recovery"
STEP_EVENTS = {1: "first_reminder", 2: "second_reminder"}
MIN_LEAD = timedelta(minutes=1)  # a schedule is never set closer to now than this
MAX_NAME = 64


def schedule_name(cart_id: str) -> str:
    """``cr-cart-<hash>``: the cart's one schedule. (Earlier releases named one schedule per
    timer, ``cr-wake-...`` and ``cr-send-...``; the store deletes such a schedule the first
    time it sets that cart's timer.)"""
    digest = hashlib.sha256(cart_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    name = f"cr-cart-{digest}"
    assert len(name) <= MAX_NAME
    return name


def fire_time(due: datetime, now: datetime) -> datetime:
    """When the schedule for ``due`` fires: on a whole minute, not before ``due`` and at least
    ``MIN_LEAD`` after ``now``."""
    t = max(due, now + MIN_LEAD).astimezone(UTC)
    whole = t.replace(second=0, microsecond=0)
    return whole if whole == t else whole + timedelta(minutes=1)


def at_expression(when: datetime, timezone: str) -> tuple[str, str]:
    """``("at(YYYY-MM-DDTHH:MM:SS)", timezone)`` for the instant ``when``; UTC when the local
    time is ambiguous or does not exist in ``timezone`` (a daylight-saving change)."""
    zone = ZoneInfo(timezone)
    local = when.astimezone(zone).replace(tzinfo=None)
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first != second or first != when.astimezone(UTC):
        local, timezone = when.astimezone(UTC).replace(tzinfo=None), "UTC"
    return f"at({local:%Y-%m-%dT%H:%M:%S})", timezone


def parse_at(expression: str, timezone: str) -> datetime:
    """The instant an ``at(...)`` expression in ``timezone`` stands for (the inverse of
    ``at_expression``)."""
    if not (expression.startswith("at(") and expression.endswith(")")):
        raise ValueError(f"not a one-off schedule expression: {expression!r}")
    local = datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S")
    return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def reminder_event(cart_id: str, step: int, due: datetime) -> dict[str, Any]:
    """The payload the sender gets, from the EventBridge rule or from a quiet-hours deferral."""
    return {
        "version": "0",
        "source": EVENT_SOURCE,
        "detail-type": STEP_EVENTS.get(step, "first_reminder"),
        "detail": {
            "cart_id": cart_id,
            "step": step,
            "due": due.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        },
    }


class SchedulerTimers:
    """TimerSink on EventBridge Scheduler: wake-ups target the waiter with ``{"cart_id": ...}``
    as input; quiet-hours deferrals target the sender with the reminder event's payload."""

    def __init__(
        self,
        client: Any,
        *,
        waiter_arn: str,
        sender_arn: str,
        role_arn: str,
        timezone: str,
        clock: Clock,
        group: str = "default",
        dead_letter_arn: str | None = None,
    ) -> None:
        ZoneInfo(timezone)  # an unknown zone fails here, not at the first wake-up
        self._client = client
        self.waiter_arn = waiter_arn
        self.sender_arn = sender_arn
        self.role_arn = role_arn
        self.timezone = timezone
        self.clock = clock
        self.group = group
        self.dead_letter_arn = dead_letter_arn

    def request(self, cart_id: str, timer: Timer, name: str) -> dict[str, Any]:
        """The CreateSchedule/UpdateSchedule parameters for ``timer``."""
        expression, timezone = at_expression(fire_time(timer.due, self.clock.now()), self.timezone)
        if timer.kind is TimerKind.WAKE:
            arn, payload = self.waiter_arn, {"cart_id": cart_id}
        else:
            arn, payload = self.sender_arn, reminder_event(cart_id, timer.step or 1, timer.due)
        target: dict[str, Any] = {
            "Arn": arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(payload, separators=(",", ":")),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        return {
            "Name": name,
            "GroupName": self.group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "NONE",
            "State": "ENABLED",
            "Target": target,
        }

    def ensure(self, cart_id: str, timer: Timer, name: str, *, replacing: bool = False) -> None:
        """Create the schedule, or update it in place when it exists: ``replacing`` says it
        most likely does (so the update is tried first, and one call is the usual cost)."""
        params = self.request(cart_id, timer, name)
        client_error = client_error_type()
        calls = (
            (self._client.update_schedule, "ResourceNotFoundException"),
            (self._client.create_schedule, "ConflictException"),
        )
        if not replacing:
            calls = calls[::-1]
        for _ in range(3):
            for call, absent_or_present in calls:
                try:
                    call(**params)
                    return
                except client_error as e:
                    if error_code(e) != absent_or_present:
                        raise
        log.warning("schedule kept appearing and disappearing", extra={"schedule": name})

    def remove(self, name: str) -> None:
        try:
            self._client.delete_schedule(Name=name, GroupName=self.group)
        except client_error_type() as e:
            if error_code(e) != "ResourceNotFoundException":
                raise


class NoSchedules:
    """A TimerSink that keeps nothing: the store's own rows are the timers (a runtime that
    polls ``DynamoStore.due``, or tests)."""

    def ensure(self, cart_id: str, timer: Timer, name: str, *, replacing: bool = False) -> None:
        return None

    def remove(self, name: str) -> None:
        return None


class MemorySchedules:
    """A TimerSink in a dictionary (tests): name → (cart id, timer)."""

    def __init__(self) -> None:
        self.schedules: dict[str, tuple[str, Timer]] = {}

    def ensure(self, cart_id: str, timer: Timer, name: str, *, replacing: bool = False) -> None:
        self.schedules[name] = (cart_id, timer)

    def remove(self, name: str) -> None:
        self.schedules.pop(name, None)

    def of(self, cart_id: str) -> list[Timer]:
        return [t for c, t in self.schedules.values() if c == cart_id]
