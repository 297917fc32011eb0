"""The events file of ``simulate``: JSON lines, one cart event each, read as a stream."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import msgspec

from cart_recovery.domain.cart import EventError, validate_event
from cart_recovery.domain.model import CartEvent
from cart_recovery.domain.rules import zone_named

CHUNK = 1 << 16  # bytes of whole lines decoded at a time (docs/performance.md, sixth round)


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
    *,
    chunk_size: int = CHUNK,
) -> Iterator[CartEvent]:
    """The events of a JSON-lines file, decoded and validated, in file order. Raises BadEvent
    naming the first line that is not a valid event. Each shopper zone is added to ``zones``
    (see ``hold_zones``).

    Whole lines are decoded a chunk at a time (msgspec's ``decode_lines``: one call for about
    55 events; a small chunk's events are still in cache when the caller applies them). A
    chunk that does not come out as one valid event per line (a bad line, a blank one, or two
    values on one line, which ``decode_lines`` would take) is read again line by line, which
    names the bad line, as reading line by line throughout would."""
    decoder = msgspec.json.Decoder(CartEvent)
    zones = {} if zones is None else zones
    first = 1  # the number of the chunk's first line
    rest = b""
    with path.open("rb") as f:
        while True:
            block = f.read(chunk_size)
            data = rest + block
            if not data:
                return
            end = data.rfind(b"\n") + 1 if block else len(data)
            chunk, rest = data[:end], data[end:]
            if not chunk:  # no end of line yet: a line longer than what was read so far
                continue
            if on_bytes is not None:
                on_bytes(len(chunk))
            lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
            events: Iterable[CartEvent] | None = None
            try:
                decoded = decoder.decode_lines(chunk)
                if len(decoded) == lines:
                    events = [validate_event(e) for e in decoded]
            except (msgspec.ValidationError, msgspec.DecodeError, EventError):
                pass
            if events is None:
                events = _line_by_line(decoder, path, first, chunk)  # BadEvent at a bad line
            for event in events:
                tz = event.timezone
                if tz is not None and tz not in zones:
                    zones[tz] = zone_named(tz)
                yield event
            first += lines


def _line_by_line(
    decoder: msgspec.json.Decoder[CartEvent], path: Path, first: int, chunk: bytes
) -> Iterator[CartEvent]:
    for n, line in enumerate(io.BytesIO(chunk), first):
        if not line.strip():
            continue
        try:
            yield validate_event(decoder.decode(line))
        except (msgspec.ValidationError, msgspec.DecodeError, EventError) as e:
            raise BadEvent(f"{path}:{n}", e) from None
