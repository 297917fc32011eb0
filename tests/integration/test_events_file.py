"""The events file of ``simulate`` is read a chunk of lines at a time, and gives exactly what
reading it line by line gives: the same events, blank lines skipped, and the first bad line
named by its number, wherever the chunks happen to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cart_recovery.simulation.events_file import BadEvent, read_lines


def _line(n: int, **extra: object) -> str:
    body = {
        "event_id": f"e{n}",
        "type": "cart.updated",
        "cart_id": f"c{n}",
        "occurred_at": f"2026-05-01T00:{n // 60:02d}:{n % 60:02d}Z",
        "email": f"shopper{n}@example.com",
        "timezone": "Asia/Tokyo" if n % 2 else None,
        **extra,
    }
    return json.dumps({k: v for k, v in body.items() if v is not None})


CHUNKS = [16, 100, 257, 1 << 20]  # smaller than a line, a line or two, many lines, the file


@pytest.mark.parametrize("chunk_size", CHUNKS)
def test_every_event_in_file_order_blank_lines_skipped(tmp_path: Path, chunk_size: int) -> None:
    lines = [_line(n) for n in range(40)]
    lines[7:7] = ["", "   "]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines))  # and no newline after the last line
    zones: dict[str, object] = {}
    read = [e.event_id for e in read_lines(path, zones=zones, chunk_size=chunk_size)]
    assert read == [f"e{n}" for n in range(40)]
    assert list(zones) == ["Asia/Tokyo"]


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize(
    "bad",
    [
        '{"event_id": "x"}',  # not an event
        _line(99) + " " + _line(98),  # two events on one line
        _line(99, total="-1"),  # decodes, but validation refuses it
        '{"event_id": ',  # not JSON
    ],
)
def test_the_first_bad_line_is_named_and_the_events_before_it_given(
    tmp_path: Path, chunk_size: int, bad: str
) -> None:
    lines = [_line(n) for n in range(30)]
    lines[21] = bad
    lines[25] = "{}"
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    read: list[str] = []
    with pytest.raises(BadEvent) as caught:
        for event in read_lines(path, chunk_size=chunk_size):
            read.append(event.event_id)
    assert caught.value.where == f"{path}:22"
    assert read == [f"e{n}" for n in range(21)]
