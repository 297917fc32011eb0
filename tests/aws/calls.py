"""Counting the AWS API calls the runtime makes, through botocore's event hooks.

``CallCounter.attach(app)`` registers on the botocore session of an ``AwsApp``'s ``Clients``
(clients made afterwards carry the handlers) and on the clients it made already. Every API
call is counted once (botocore's own retries are not extra calls) under the label set with
``under``, as ``service.Operation``. DynamoDB calls are asked for ``ReturnConsumedCapacity=
TOTAL`` where the operation takes it, so read and write capacity units are what DynamoDB (Local)
reports; a call that failed its condition reports none, and is counted in ``unmetered``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cart_recovery.bootstrap.aws import AwsApp

DYNAMO_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
)
DYNAMO_READS = frozenset({"GetItem", "Query", "Scan", "TransactGetItems", "BatchGetItem"})


@dataclass
class Tally:
    """What one label's calls came to."""

    calls: Counter[str] = field(default_factory=Counter)  # "service.Operation" -> calls
    read_units: float = 0.0
    write_units: float = 0.0
    items_written: int = 0  # items a write call wrote (a transaction's puts and updates)
    unmetered: int = 0  # DynamoDB calls that reported no consumed capacity (failed conditions)
    invocations: Counter[str] = field(default_factory=Counter)  # function -> invocations

    def service(self, name: str) -> int:
        return sum(n for key, n in self.calls.items() if key.split(".")[0] == name)

    @property
    def dynamo_writes(self) -> int:
        return sum(self.calls[f"dynamodb.{op}"] for op in DYNAMO_WRITES)

    @property
    def dynamo_reads(self) -> int:
        return sum(self.calls[f"dynamodb.{op}"] for op in DYNAMO_READS)

    def add(self, other: Tally) -> None:
        self.calls.update(other.calls)
        self.invocations.update(other.invocations)
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.items_written += other.items_written
        self.unmetered += other.unmetered

    def summary(self) -> dict[str, Any]:
        return {
            "scheduler": self.service("scheduler"),
            "dynamodb_reads": self.dynamo_reads,
            "dynamodb_writes": self.dynamo_writes,
            "dynamodb_items_written": self.items_written,
            "dynamodb_rcu": round(self.read_units, 2),
            "dynamodb_wcu": round(self.write_units, 2),
            "dynamodb_unmetered": self.unmetered,
            "lambda": sum(self.invocations.values()),
            "sqs": self.service("sqs"),
            "eventbridge": self.service("events"),
            "ses": self.service("ses"),
            "s3": self.service("s3"),
            "secretsmanager": self.service("secretsmanager"),
            "ssm": self.service("ssm"),
            "calls": dict(sorted(self.calls.items())),
            "invocations": dict(sorted(self.invocations.items())),
        }


class CallCounter:
    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}
        self.label = "other"
        # "function:cold" (its first invocation) and "function:warm" (the rest)
        self.starts: dict[str, Tally] = {}
        self.start: str | None = None

    @contextmanager
    def under(self, label: str) -> Iterator[Tally]:
        """Count the calls made inside the block under ``label`` (the tally is yielded)."""
        before, self.label = self.label, label
        try:
            yield self.tally(label)
        finally:
            self.label = before

    def tally(self, label: str) -> Tally:
        return self.tallies.setdefault(label, Tally())

    def invoked(self, function: str) -> None:
        """``function`` is invoked now: its calls until the next invocation are its own."""
        self.tally(self.label).invocations[function] += 1
        cold = f"{function}:cold"
        self.start = cold if cold not in self.starts else f"{function}:warm"
        self.starts.setdefault(self.start, Tally()).invocations[function] += 1

    def attach(self, app: AwsApp) -> None:
        """Count the calls of every client ``app`` makes, now and later."""
        emitters = [app.clients.session.events]
        emitters += [c.meta.events for c in app.clients._made.values()]
        for events in emitters:
            events.register("before-parameter-build.dynamodb.*", self._ask_capacity)
            events.register("after-call.*.*", self._count)

    # ---- botocore handlers ------------------------------------------------------------------
    def _ask_capacity(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        context["counted_items"] = _items_to_write(model.name, params)

    def _count(
        self, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any
    ) -> None:
        for tally in (self.tally(self.label), self.starts.get(self.start or "")):
            if tally is not None:
                self._add(tally, parsed, model, context)

    def _add(
        self, tally: Tally, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any]
    ) -> None:
        service = model.service_model.service_name
        tally.calls[f"{service}.{model.name}"] += 1
        if service != "dynamodb":
            return
        if "Error" not in parsed:
            tally.items_written += int(context.get("counted_items", 0))
        consumed = parsed.get("ConsumedCapacity")
        if consumed is None:
            if model.name in DYNAMO_WRITES | DYNAMO_READS:
                tally.unmetered += 1
            return
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            read = float(entry.get("ReadCapacityUnits", 0.0))
            write = float(entry.get("WriteCapacityUnits", 0.0))
            if not read and not write:  # only the total is reported: by the kind of call
                units = float(entry.get("CapacityUnits", 0.0))
                read, write = (0.0, units) if model.name in DYNAMO_WRITES else (units, 0.0)
            tally.read_units += read
            tally.write_units += write

    # ---- reporting --------------------------------------------------------------------------
    def total(self, *labels: str, source: Mapping[str, Tally] | None = None) -> Tally:
        """The sum of ``labels``' tallies (of ``source``: by default the labels')."""
        tallies = self.tallies if source is None else source
        out = Tally()
        for label in labels:
            if label in tallies:
                out.add(tallies[label])
        return out


def _items_to_write(operation: str, params: Mapping[str, Any]) -> int:
    """Items a write call writes if it succeeds (a transaction's condition checks write none)."""
    if operation in {"PutItem", "UpdateItem", "DeleteItem"}:
        return 1
    if operation == "TransactWriteItems":
        return sum(1 for op in params.get("TransactItems", []) if "ConditionCheck" not in op)
    if operation == "BatchWriteItem":
        return sum(len(v) for v in params.get("RequestItems", {}).values())
    return 0
