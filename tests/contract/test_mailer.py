"""The Mailer contract, run against every adapter: SMTP (to aiosmtpd), the outbox folder,
memory, and SES (on moto).

A message the mailer accepted arrives once, with its headers and both bodies as they were
composed; a message it could not hand on raises the service's mail error and arrives nowhere.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from cart_recovery.adapters.aws.messaging import SesMailer
from cart_recovery.adapters.mail import (
    MailError,
    MemoryMailer,
    OutboxMailer,
    SmtpMailer,
    SmtpSettings,
)
from cart_recovery.domain.compose import OutgoingEmail
from cart_recovery.ports import Mailer
from tests.aws.services import client
from tests.aws.world import raw_messages
from tests.conftest import T0
from tests.fakes.smtp_server import Server

# What the service catches as "not sent, try again later": the one mail error of ports.py.
MAIL_ERRORS = (MailError,)
SENDER = "shop@example.com"
TOKEN = "eyJjYXJ0IjoiYzEyMyIsInNob3AiOiJzMSJ9.ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz.aGVsbG8td29ybGQ"
UNSUBSCRIBE = f"<https://shop.example/u/{TOKEN}>, <mailto:unsubscribe@shop.example?subject={TOKEN}>"


def outgoing(n: int = 1) -> OutgoingEmail:
    return OutgoingEmail(
        to="ana@example.org",
        sender=f"Corner Shop <{SENDER}>",
        subject=f"Du hast etwas im Warenkorb vergessen 🛒 #{n}",
        text=f"Hallo Ana,\n\ndein Warenkorb wartet: Tasse Größe L × 2.\n\n-- {n}\n",
        html=f"<html><body><p>Hallo Ana,</p><p>Tasse Größe L × 2</p><p>{n}</p></body></html>\n",
        message_id=f"<r{n}.contract@shop.example>",
        date=T0 + timedelta(seconds=n),
        headers=(
            ("List-Unsubscribe", UNSUBSCRIBE),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )


def message(n: int = 1) -> OutgoingEmail:
    """The one place a message to send is built: what ``Mailer.send`` takes (each mailer
    writes it for the wire)."""
    return outgoing(n)


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@dataclass
class Harness:
    mailer: Mailer
    received: Callable[[], list[EmailMessage]]  # what arrived at the far side, in order
    break_next_hop: Callable[[], None]  # the next hop refuses messages or is gone...
    mend_next_hop: Callable[[], None]  # ...until this


def smtp_harness() -> Iterator[Harness]:
    server = Server()
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10))
    try:
        yield Harness(
            mailer,
            lambda: [parse(m.content) for m in server.handler.messages],
            server.stop,
            server.start,
        )
    finally:
        mailer.close()
        server.stop()


def outbox_harness(folder: Path) -> Iterator[Harness]:
    outbox = folder / "outbox"
    mailer = OutboxMailer(outbox)

    def block() -> None:  # a file where the outbox folder should be
        if outbox.exists():
            outbox.rmdir()
        outbox.write_text("not a folder", encoding="utf-8")

    yield Harness(
        mailer,
        lambda: [parse(p.read_bytes()) for p in mailer.list()],
        block,
        outbox.unlink,
    )


def memory_harness() -> Iterator[Harness]:
    mailer = MemoryMailer()

    def fail_next(n: int) -> Callable[[], None]:
        return lambda: setattr(mailer, "fail_next", n)

    yield Harness(mailer, lambda: list(mailer.sent), fail_next(1), fail_next(0))


def ses_harness(moto: str) -> Iterator[Harness]:
    ses = client("ses", moto)
    ses.verify_email_identity(EmailAddress=SENDER)
    before = len(raw_messages(moto))

    def received() -> list[EmailMessage]:
        return [
            parse(m["raw_data"].encode("utf-8", "surrogateescape"))
            for m in raw_messages(moto)[before:]
        ]

    try:
        yield Harness(
            SesMailer(ses, configuration_set=None),
            received,
            lambda: ses.delete_identity(Identity=SENDER),  # SES refuses an unverified sender
            lambda: ses.verify_email_identity(EmailAddress=SENDER),
        )
    finally:
        ses.verify_email_identity(EmailAddress=SENDER)


@pytest.fixture(
    params=["smtp", "outbox", "memory", pytest.param("ses", marks=pytest.mark.aws)],
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "smtp":
        yield from smtp_harness()
    elif request.param == "outbox":
        yield from outbox_harness(tmp_path)
    elif request.param == "memory":
        yield from memory_harness()
    else:
        yield from ses_harness(request.getfixturevalue("moto_server"))


def body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # an 8bit body parsed from the wire keeps CRLF


def test_a_sent_message_arrives_with_its_headers_and_both_bodies(harness: Harness) -> None:
    # Given a composed reminder
    sent = outgoing(1)
    # When the mailer sends it
    harness.mailer.send(message(1))
    # Then exactly that message arrived, headers and bodies intact
    [got] = harness.received()
    assert got["From"] == sent.sender
    assert got["To"] == sent.to
    assert got["Subject"] == sent.subject
    assert got["Message-ID"] == sent.message_id
    assert got["Date"].datetime == sent.date
    assert got["List-Unsubscribe"] == UNSUBSCRIBE
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got.get_content_type() == "multipart/alternative"
    assert body(got, "plain") == sent.text
    assert body(got, "html") == sent.html


def test_messages_arrive_once_each_in_the_order_sent(harness: Harness) -> None:
    for n in (1, 2, 3):
        harness.mailer.send(message(n))
    assert [m["Message-ID"] for m in harness.received()] == [
        outgoing(n).message_id for n in (1, 2, 3)
    ]


def test_a_message_that_was_not_handed_on_raises_the_mail_error(harness: Harness) -> None:
    # Given a next hop that refuses the message or cannot be reached
    harness.break_next_hop()
    # When the mailer is asked to send, Then it raises the error the service retries on
    with pytest.raises(MAIL_ERRORS):
        harness.mailer.send(message(1))
    # And nothing arrived
    assert harness.received() == []


def test_the_same_mailer_sends_again_once_the_next_hop_is_back(harness: Harness) -> None:
    harness.break_next_hop()
    with pytest.raises(MAIL_ERRORS):
        harness.mailer.send(message(1))
    harness.mend_next_hop()
    harness.mailer.send(message(2))
    assert [m["Message-ID"] for m in harness.received()] == [outgoing(2).message_id]
