"""The events file of ``simulate``: JSON lines, one cart event each, read as a stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.domain.model import CartEvent
from cart_recovery.domain.rules import zone_named


class SimulationError(Exception):
    """What ``simulate`` was given cannot be simulated; the message names the file and line."""


class NotInOrder(Exception):
    """An event earlier than the one before it: the stream cannot be replayed as it comes."""


class BadEvent(SimulationError, ValueError):
    """A line that is not a valid cart event: ``where`` is ``path:line``."""

    def __init__(self, where: str, error: Exception) -> None:
        self.where = where
        super().__init__(f"{where}: {error}")


def read_lines(
    path: Path,
    on_bytes: Callable[[int], None] | None = None,
    zones: dict[str, object] | None = None,
) -> Iterator[CartEvent]:
    """The events of a JSON-lines file, decoded and validated, in file order. Raises BadEvent
    naming the first line that is not a valid event. Each shopper zone is added to ``zones``
    (see ``hold_zones``)."""
    decoder = msgspec.json.Decoder(CartEvent)
    decode = decoder.decode
    zones = {} if zones is None else zones
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if on_bytes is not None:
                on_bytes(len(line))
            if not line.strip():
                continue
            try:
                event = validate_event(decode(line))
            except (msgspec.ValidationError, msgspec.DecodeError, EventError) as e:
                raise BadEvent(f"{path}:{n}", e) from None
            tz = event.timezone
            if tz is not None and tz not in zones:
                zones[tz] = zone_named(tz)
            yield event
