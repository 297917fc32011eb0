"""The unsubscribe list on ``cr-unsub``: rows keyed by the address's keyed digest (with the
source, the provider's reason and the cart that led to it), and the counted soft bounces of an
address under the key ``soft#`` + digest (a list of times; no list row has that prefix)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cart_recovery.adapters.aws.dynamo.items import (
    MAX_TRANSACTION,
    attr_value,
    from_iso,
    iso,
    plain,
    to_item,
)
from cart_recovery.adapters.aws.dynamo.writes import Writes
from cart_recovery.adapters.aws.errors import error_code
from cart_recovery.domain import audit as audit_rows
from cart_recovery.domain.feedback import FINAL_SOURCES, is_final
from cart_recovery.ports import Suppression

SOFT_PREFIX = "soft#"


def _suppression(item: dict[str, Any]) -> Suppression:
    values = plain(item)
    return Suppression(
        digest=values["email"],
        at=from_iso(values["unsubscribed_at"]),
        source=values["source"],
        reason=values.get("reason"),
        cart_id=values.get("cart_id"),
    )


def _finals() -> dict[str, dict[str, Any]]:
    return {f":final{i}": attr_value(source) for i, source in enumerate(sorted(FINAL_SOURCES))}


class Suppressions(Writes):
    def _unsubscribe_put(
        self, digest: str, source: str, at: datetime, reason: str | None, cart_id: str | None
    ) -> dict[str, Any]:
        """The list row as a conditional put: only where there is none, or (for a source that
        ``domain.feedback.replaces`` every other, a complaint) where the row is not final."""
        values: dict[str, Any] = {"email": digest, "unsubscribed_at": iso(at), "source": source}
        if reason is not None:
            values["reason"] = reason
        if cart_id is not None:
            values["cart_id"] = cart_id
        put: dict[str, Any] = {
            "TableName": self.tables.unsub,
            "Item": to_item(values),
            "ConditionExpression": "attribute_not_exists(email)",
        }
        if is_final(source):
            finals = _finals()
            put["ConditionExpression"] += f" OR NOT #s IN ({', '.join(finals)})"
            put["ExpressionAttributeNames"] = {"#s": "source"}
            put["ExpressionAttributeValues"] = finals
        return {"Put": put}

    def unsubscribe(
        self, email: str, *, source: str, at: datetime, reason: str | None = None
    ) -> bool:
        carts = self.carts_of(email)
        entries = [self._audit_put(audit_rows.unsubscribed(c, at, source, reason)) for c in carts]
        put = self._unsubscribe_put(
            self._digest(email), source, at, reason, audit_rows.newest_cart(carts)
        )
        first, rest = entries[: MAX_TRANSACTION - 1], entries[MAX_TRANSACTION - 1 :]
        if self._write([put, *first]) == [0]:
            return False
        for op in rest:  # an address with more carts than one transaction holds
            self._write([op])
        return True

    def unsubscribe_key(
        self,
        digest: str,
        *,
        source: str,
        at: datetime,
        email: str | None = None,
        reason: str | None = None,
        cart_id: str | None = None,
    ) -> bool:
        if email is not None and self._digest(email) == digest:
            return self.unsubscribe(email, source=source, at=at, reason=reason)
        return self._write([self._unsubscribe_put(digest, source, at, reason, cart_id)]) != [0]

    def suppression(self, email: str) -> Suppression | None:
        return self.suppression_key(self._digest(email))

    def suppression_key(self, digest: str) -> Suppression | None:
        item = self._get(self.tables.unsub, {"email": digest})
        return None if item is None else _suppression(item)

    def resubscribe_key(
        self, digest: str, *, at: datetime, by: str, email: str | None = None
    ) -> bool:
        finals = _finals()
        try:
            self._db.delete_item(
                TableName=self.tables.unsub,
                Key=to_item({"email": digest}),
                ConditionExpression=f"attribute_exists(email) AND NOT #s IN ({', '.join(finals)})",
                ExpressionAttributeNames={"#s": "source"},
                ExpressionAttributeValues=finals,
            )
        except self._client_error as e:
            if error_code(e) == "ConditionalCheckFailedException":
                return False
            raise
        self._db.delete_item(
            TableName=self.tables.unsub, Key=to_item({"email": SOFT_PREFIX + digest})
        )
        if email is not None and self._digest(email) == digest:
            for cart in self.carts_of(email):
                self._write([self._audit_put(audit_rows.resubscribed(cart, at, by))])
        return True

    def note_soft_bounce(
        self, email: str, *, at: datetime, since: datetime, event_id: str = ""
    ) -> int:
        key = to_item({"email": SOFT_PREFIX + self._digest(email)})
        request: dict[str, Any] = {
            "TableName": self.tables.unsub,
            "Key": key,
            "UpdateExpression": "SET bounces = list_append(if_not_exists(bounces, :none), :one)",
            "ExpressionAttributeValues": {
                ":none": {"L": []},
                ":one": {"L": [attr_value(iso(at))]},
            },
            "ReturnValues": "ALL_NEW",
        }
        if event_id:  # counted once: the ids counted so far are a string set on the item
            request["UpdateExpression"] += " ADD ids :ids"
            request["ConditionExpression"] = "NOT contains(ids, :id)"
            request["ExpressionAttributeValues"][":ids"] = {"SS": [event_id]}
            request["ExpressionAttributeValues"][":id"] = {"S": event_id}
            # a repeat changes nothing and gives the item as it is, with no read of its own
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            item = self._db.update_item(**request)["Attributes"]
        except self._client_error as e:
            if error_code(e) != "ConditionalCheckFailedException":
                raise
            item = getattr(e, "response", {})["Item"]
        seen = [value["S"] for value in item["bounces"]["L"]]
        return sum(1 for t in seen if t >= iso(since))

    def _rows(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[Suppression]:
        request: dict[str, Any] = {
            "TableName": self.tables.unsub,
            "FilterExpression": "attribute_exists(unsubscribed_at)",
            "ConsistentRead": True,
        }
        if start is not None and end is not None:
            request["FilterExpression"] = "unsubscribed_at >= :s AND unsubscribed_at < :e"
            request["ExpressionAttributeValues"] = {
                ":s": attr_value(iso(start)),
                ":e": attr_value(iso(end)),
            }
        return [_suppression(item) for item in self._scan(**request)]

    def suppressions(self, limit: int = 200) -> list[Suppression]:
        rows = sorted(self._rows(), key=lambda r: r.digest)
        return sorted(rows, key=lambda r: r.at, reverse=True)[:limit]

    def suppressions_between(self, start: datetime, end: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self._rows(start, end):
            counts[row.source] = counts.get(row.source, 0) + 1
        return counts

    def unsubscribes_between(self, start: datetime, end: datetime) -> int:
        return sum(self.suppressions_between(start, end).values())
