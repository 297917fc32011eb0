"""No link in a composed reminder reveals its recipient's address, in any encoding: every URL of
both parts (and the List-Unsubscribe header) of every email is decoded, path segment by path
segment and query value by query value, as URL escapes, base64url and zlib, and none of the
decodings holds the address or its normalised form. On the in-memory service and on the
embedded app."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import html
import re
import zlib
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo

from cart_recovery.adapters.links import Tokens
from cart_recovery.adapters.mail import MemoryMailer
from cart_recovery.adapters.memory import MemoryStore
from cart_recovery.bootstrap.embedded import embedded, init_data_dir
from cart_recovery.bootstrap.in_memory import in_memory
from cart_recovery.config.settings import load_settings
from cart_recovery.domain.address import normalise_email
from cart_recovery.embedded.clock import VirtualClock
from cart_recovery.service import Service
from cart_recovery.simulation.replay import Replay
from tests.conftest import body_text, make_event

NY = ZoneInfo("America/New_York")
START = datetime(2026, 5, 12, 10, 0, tzinfo=NY)
UNTIL = datetime(2026, 5, 20, 0, 0, tzinfo=NY)
ADDRESS = " Maya.Quinn+Linen@Example.COM"
URL = re.compile(r"https?://[^\s\"'<>]+")


def b64url(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def unzip(raw: bytes) -> bytes:
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return b""


def decodings(url: str) -> Iterator[str]:
    """The URL, and every reading of each path segment and query value: URL escapes, base64url
    of the whole and of each dot-separated chunk (a signed token is ``payload.signature``), and
    zlib of what base64url gave."""
    yield url
    yield unquote(url)
    parts = urlsplit(url)
    pieces = [unquote(s) for s in parts.path.split("/")]
    pieces += [v for _, v in parse_qsl(parts.query)] + [unquote(parts.fragment)]
    for piece in pieces:
        yield piece
        for chunk in [piece, *piece.split(".")]:
            raw = b64url(chunk)
            if raw is None:
                continue
            yield raw.decode("latin-1")
            yield unzip(raw).decode("latin-1")


def links_of(message: EmailMessage) -> list[str]:
    found = URL.findall(body_text(message)) + URL.findall(html.unescape(body_text(message, "html")))
    found.append(str(message["List-Unsubscribe"]).strip("<>"))
    return [url.rstrip(".,)") for url in found]


def revealing(urls: list[str]) -> list[str]:
    forms = {ADDRESS.strip().lower(), normalise_email(ADDRESS)}
    return [
        url
        for url in urls
        if any(form in reading.lower() for reading in decodings(url) for form in forms)
    ]


def assert_names_nobody(sent: list[EmailMessage]) -> None:
    assert len(sent) == 2  # both reminders
    for raw in sent:
        message = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        urls = links_of(message)
        assert any("/u/" in u for u in urls) and any("/r/" in u for u in urls)
        assert revealing(urls) == []


def remind(service: Service, store: MemoryStore, clock: VirtualClock) -> None:
    replay = Replay(service, store, clock)
    replay.feed([make_event(email=ADDRESS, occurred_at=START, timezone="America/New_York")])
    replay.run_until(UNTIL)


def test_the_decoder_finds_an_address_in_a_link_of_the_first_kind() -> None:
    # The check itself: the old link carried the address in readable base64
    old = f"https://shop.example/u/{Tokens('a-signing-key-0123456789').unsubscribe(ADDRESS)}"
    assert revealing([old]) == [old]


def test_no_link_of_the_in_memory_service_reveals_its_recipient() -> None:
    mailer, store = MemoryMailer(), MemoryStore()
    remind(in_memory(store=store, mailer=mailer), store, VirtualClock(START))
    assert_names_nobody(mailer.sent)


def test_no_link_of_the_embedded_app_reveals_its_recipient(tmp_path: Path) -> None:
    init_data_dir(tmp_path)
    clock, mailer = VirtualClock(START), MemoryMailer()
    rt = embedded(load_settings(tmp_path, {}), clock=clock, mailer=mailer, run_timers=False)
    try:
        rt.service.ingest(
            make_event(email=ADDRESS, occurred_at=START, timezone="America/New_York"), START
        )
        for day in range(12, 20):  # the timer loop, once a day at lunchtime
            at = datetime(2026, 5, day, 12, 30, tzinfo=NY)
            clock.set(at)
            rt.loop.run_due(at)
        assert_names_nobody(mailer.sent)
    finally:
        rt.close()
