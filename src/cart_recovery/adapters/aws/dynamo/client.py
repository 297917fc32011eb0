"""The store's DynamoDB client: conditional writes (one item or a transaction, retried when
it loses a race), paged queries and scans, the cart row's conditional update, audit puts, and
making the ``TimerSink`` match the timer a cart row records."""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cart_recovery.adapters.aws.dynamo.items import (
    AUDIT_SNAPSHOTS_LIMIT,
    CONFLICT_RETRIES,
    RECONCILE_ROUNDS,
    Tables,
    Update,
    iso,
    json_encoder,
    plain,
    timer_of,
    to_item,
)
from cart_recovery.adapters.aws.errors import client_error_type, error_code
from cart_recovery.adapters.aws.scheduler import NoSchedules
from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.model import AuditEntry
from cart_recovery.domain.privacy import UNKEYED, EmailKey
from cart_recovery.domain.timers import Timer
from cart_recovery.ports import StaleCart, TimerSink

log = logging.getLogger("cart_recovery.aws.store")


class Client:
    """The store's tables through one DynamoDB client."""

    def __init__(
        self,
        client: Any,
        *,
        tables: Tables | None = None,
        timers: TimerSink | None = None,
        email_key: EmailKey | Callable[[], EmailKey] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``email_key`` keys the unsubscribe list (``EmailKey.from_signing_key``; a callable
        is asked once, when an address is first looked up)."""
        self._db = client
        self._wall_clock = wall_clock
        self._email_key = email_key or UNKEYED
        self.tables = tables or Tables()
        self.timers: TimerSink = timers or NoSchedules()
        self._client_error = client_error_type()

    # ---- low-level ------------------------------------------------------------------------
    def _digest(self, email: str) -> str:
        if not isinstance(self._email_key, EmailKey):
            self._email_key = self._email_key()
        return self._email_key.digest(email)

    def _write(self, ops: list[dict[str, Any]]) -> list[int]:
        """Run ``ops`` (``{"Put"|"Update"|"ConditionCheck": request}``) all or nothing. Returns
        the indexes of the ops whose condition failed ([] when everything was written).
        A transaction that lost a race with another one is retried."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                if len(ops) == 1 and "ConditionCheck" not in ops[0]:
                    ((kind, request),) = ops[0].items()
                    if kind == "Put":
                        self._db.put_item(**request)
                    else:
                        self._db.update_item(**request)
                else:
                    self._db.transact_write_items(TransactItems=ops)
                return []
            except self._client_error as e:
                code = error_code(e)
                if code == "ConditionalCheckFailedException":
                    return [0]
                if code != "TransactionCanceledException":
                    raise
                reasons = [
                    r.get("Code", "None")
                    for r in getattr(e, "response", {}).get("CancellationReasons", [])
                ]
                failed = [i for i, c in enumerate(reasons) if c == "ConditionalCheckFailed"]
                if failed:
                    return failed
                if not any(c in ("TransactionConflict", "ThrottlingError") for c in reasons):
                    raise
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
        raise StaleCart("a transaction kept conflicting with concurrent writes")

    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._db.query(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _scan(self, **request: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._db.scan(**request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _get(self, table: str, key: Mapping[str, Any], **extra: Any) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._db.get_item(
            TableName=table, Key=to_item(key), ConsistentRead=True, **extra
        ).get("Item")
        return item

    def _state_update(
        self,
        cart_id: str,
        u: Update,
        expected_version: int | str | None,
    ) -> dict[str, Any]:
        """An Update of the cart row, conditional on its version (None: no row yet;
        ``"exists"``: any version; ``"open"``: any version of an open cart)."""
        if expected_version is None:
            condition = "attribute_not_exists(cart_id)"
        elif expected_version == "exists":
            condition = "attribute_exists(cart_id)"
        elif expected_version == "open":
            condition = f"{u.name('status')} = {u.value('open')}"
        else:
            condition = f"{u.name('version')} = {u.value(expected_version)}"
        return {"Update": u.request(self.tables.state, {"cart_id": cart_id}, condition)}

    def _audit_put(self, entry: AuditEntry) -> dict[str, Any]:
        # An item holds at most 400 KB: a very large cart's snapshots keep what changed.
        entry = audit_rows.fit(entry, AUDIT_SNAPSHOTS_LIMIT)
        # The sort key is unique and keeps rows in the order they were written.
        ts = f"{iso(entry.at)}#{time.time_ns():020d}{secrets.token_hex(3)}"
        values = {
            "cart_id": entry.cart_id,
            "ts": ts,
            "at": iso(entry.at),
            "by_user": entry.by,
            "action": entry.action,
            "before": None if entry.before is None else json_encoder.encode(entry.before).decode(),
            "after": None if entry.after is None else json_encoder.encode(entry.after).decode(),
            "detail": entry.detail,
        }
        return {
            "Put": {
                "TableName": self.tables.audit,
                "Item": to_item(values),
                "ConditionExpression": "attribute_not_exists(ts)",
            }
        }

    # ---- timers: the row says what is pending; the sink is made to match ------------------
    def _reconcile(self, cart_id: str) -> None:
        """Make the cart's schedule fire what its row says, reading the row again after each
        change to the schedule, so that of two writers racing, the one that reads last puts
        the newest timer in place. Usually one Scheduler call: the schedule created (a new
        cart), updated in place (a wake-up that moves) or deleted (nothing pending)."""
        ensured: str | None = None  # the schedule this call last put a timer in
        made: Timer | None = None  # and that timer
        removed: set[str] = set()  # a schedule deleted once is not asked for again
        for _ in range(RECONCILE_ROUNDS):
            item = self._get(
                self.tables.state,
                {"cart_id": cart_id},
                ProjectionExpression=(
                    "cart_id, schedule_name, previous_schedule, wake_at, wake_kind, wake_step"
                ),
            )
            values = plain(item) if item else {}
            current = values.get("schedule_name") or None
            previous = values.get("previous_schedule") or None
            # The cart's schedule when its timer was cancelled (or ours, cancelled while we
            # made it), or one named per timer by an earlier release: deleted, then the row is
            # read again, as a timer set meanwhile would need its schedule made again.
            stale = [
                name
                for name in dict.fromkeys((previous, ensured))
                if name is not None and name != current and name not in removed
            ]
            for name in stale:
                self.timers.remove(name)
                removed.add(name)
            if stale:
                ensured = made = None
                continue
            timer = timer_of(item) if item else None
            if current is None or timer is None or (current == ensured and timer == made):
                return
            replacing = current in (previous, ensured) and current not in removed
            self.timers.ensure(cart_id, timer, current, replacing=replacing)
            ensured, made = current, timer
            removed.discard(current)
        log.warning("the cart's timer kept changing", extra={"cart_id": cart_id})
