"""The MIME writer: a composed reminder (``domain.compose.OutgoingEmail``) as the bytes that go
on the wire, with its SMTP envelope. Every mailer (SMTP, the outbox folder, memory, SES) writes
a reminder with ``to_wire``.

``to_bytes`` writes the message in one pass (the hot path of sending); ``to_message`` builds the
same message with the standard library's ``email`` package, the reference the tests hold
``to_bytes`` to.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import functools
import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import AddressHeader, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy, Policy
from email.utils import format_datetime

from cart_recovery.domain.compose import ComposeError, OutgoingEmail
from cart_recovery.domain.voice import one_line

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but ':'
_OWN_HEADERS = frozenset({"from", "to", "cc", "bcc", "subject", "date", "message-id"})


@dataclass(frozen=True, slots=True)
class WireMessage:
    """A message already written for the wire: the SMTP envelope and the RFC 5322 bytes (CRLF).

    What a mailer writes for each reminder; ``parsed()`` reads it back as an
    ``EmailMessage`` for whoever wants to look inside (tests, the in-memory mailer)."""

    sender: str  # envelope sender: the From address
    recipients: tuple[str, ...]
    message_id: str
    data: bytes

    def as_bytes(self) -> bytes:
        return self.data

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(
            self.data.replace(b"\r\n", b"\n"), policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        return message


def to_message(outgoing: OutgoingEmail) -> EmailMessage:
    """A ``multipart/alternative`` message (text, then HTML), CRLF line endings."""
    msg = EmailMessage(policy=_policy())
    msg["From"] = one_line(outgoing.sender)
    msg["To"] = one_line(outgoing.to)
    msg["Subject"] = one_line(outgoing.subject)
    msg["Date"] = format_datetime(outgoing.date)
    msg["Message-ID"] = one_line(outgoing.message_id)
    for name, value in outgoing.headers:
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _OWN_HEADERS:
            raise ComposeError(f"not an extra header name: {name!r}")
        msg[name] = one_line(value)
    msg.set_content(outgoing.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(outgoing.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def to_bytes(outgoing: OutgoingEmail) -> bytes:
    """The message as it goes on the wire (CRLF), written in one pass.

    The same message as ``to_message`` gives (the tests parse both and compare), without
    the cost of the standard library's header objects: plain ASCII headers are folded at
    spaces, anything else becomes RFC 2047 encoded words, and both parts are
    encoded (see ``_part``) under a boundary that neither encoding can ever produce.
    """
    extra = []
    for name, value in outgoing.headers:
        value = one_line(value)
        if _verbatim(name):
            if not value.isascii() or not value.isprintable():
                raise ComposeError(f"{name} must be printable ASCII")
            extra.append(f"{name}: {value}\r\n")
        else:
            extra.append(_header(name, value))
    boundary = "=_cr_" + hashlib.sha256(outgoing.message_id.encode()).hexdigest()[:24]
    head = (
        _from_header(one_line(outgoing.sender))
        + _header("To", one_line(outgoing.to))
        + _header("Subject", one_line(outgoing.subject))
        + f"Date: {_date(outgoing.date)}\r\n"
        + _header("Message-ID", one_line(outgoing.message_id))
        + "".join(extra)
        + "MIME-Version: 1.0\r\n"
        + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
    )
    return b"".join(
        (
            head.encode("ascii"),
            *_part(boundary, "plain", outgoing.text),
            *_part(boundary, "html", outgoing.html),
            f"--{boundary}--\r\n".encode("ascii"),
        )
    )


@functools.lru_cache(maxsize=64)
def _verbatim(name: str) -> bool:
    """Whether the extra header ``name`` is written as it is (else folded as any other);
    ``ComposeError`` if it is not a field name or names one of the message's own fields."""
    if not _HEADER_NAME.fullmatch(name) or name.lower() in _OWN_HEADERS:
        raise ComposeError(f"not an extra header name: {name!r}")
    return name.lower() in _VERBATIM


def to_wire(outgoing: OutgoingEmail) -> WireMessage:
    """The envelope and the bytes, ready for any mailer."""
    return WireMessage(
        sender=_envelope_sender(outgoing.sender),
        recipients=(outgoing.to,),
        message_id=outgoing.message_id,
        data=to_bytes(outgoing),
    )


_VERBATIM = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
_FOLD_AT = 78
_EW_BYTES = 45  # UTF-8 bytes per encoded word: 60 base64 characters, 72 with the wrapping


def _header(name: str, value: str) -> str:
    """One header field (``value`` already on one line), CRLF-terminated. Printable ASCII is
    folded at spaces; anything else, or text that could be read as an encoded word, is written
    as RFC 2047 encoded words, so no character of it can end the header."""
    if value.isascii() and value.isprintable() and "=?" not in value:
        if len(name) + len(value) <= _FOLD_AT - 2:  # fits on one line: nothing to fold
            return f"{name}: {value}".rstrip(" ") + "\r\n"
        line = f"{name}: "
        out = []
        for word in value.split(" "):
            if len(line) + len(word) > _FOLD_AT and line.strip():
                out.append(line.rstrip(" "))
                line = " "
            line += word + " "
        out.append(line.rstrip(" "))
        return "\r\n".join(out) + "\r\n"
    words = []
    chunk = bytearray()
    for ch in value:
        raw = ch.encode("utf-8")
        if len(chunk) + len(raw) > _EW_BYTES:
            words.append(_encoded_word(bytes(chunk)))
            chunk.clear()
        chunk += raw
    if chunk or not words:
        words.append(_encoded_word(bytes(chunk)))
    return f"{name}: " + "\r\n ".join(words) + "\r\n"


def _encoded_word(raw: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(raw).decode("ascii") + "?="


@functools.lru_cache(maxsize=64)
def _from_header(sender: str) -> str:
    """The From field as the standard library writes it (display names need quoting and
    encoding rules of their own); the sender is one configured value, so this runs once."""
    message = EmailMessage(policy=_policy())
    message["From"] = sender
    return message.as_string().split("\r\n\r\n", 1)[0] + "\r\n"


@functools.lru_cache(maxsize=64)
def _envelope_sender(sender: str) -> str:
    header = _policy().header_factory("From", sender)
    assert isinstance(header, AddressHeader)
    return header.addresses[0].addr_spec


def _part(boundary: str, subtype: str, content: str) -> tuple[bytes, bytes, bytes]:
    """One text part: the plain text as quoted-printable (it stays readable as it is), the
    HTML as base64 (machine-made and several kilobytes: quoted-printable would cost more than
    composing the whole email). Line ends are CRLF, as both encodings want them."""
    if "\r" not in content and content.endswith("\n"):  # ours always: only LF line ends
        data = content.encode("utf-8").replace(b"\n", b"\r\n")  # no UTF-8 sequence holds a LF
    else:
        data = b"\r\n".join(content.encode("utf-8").splitlines()) + b"\r\n"
    if subtype == "html":
        cte, body = "base64", _base64_lines(data)
    else:
        cte, body = "quoted-printable", binascii.b2a_qp(data, istext=True)
    return (
        (
            f"--{boundary}\r\n"
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {cte}\r\n\r\n"
        ).encode("ascii"),
        body,
        b"\r\n",  # the line break before a boundary is the boundary's
    )


def _base64_lines(data: bytes) -> bytes:
    """base64 in lines of 76 characters, CRLF-terminated (RFC 2045 §6.8). The whole lines are
    cut in one call (a ``struct`` of k 76-byte fields), the short last line after them."""
    encoded = binascii.b2a_base64(data, newline=False)
    whole, rest = divmod(len(encoded), _LINE)
    lines = _lines(whole).unpack_from(encoded) if whole else ()
    if rest or not whole:
        lines = (*lines, encoded[whole * _LINE :])
    return b"\r\n".join(lines) + b"\r\n"


_LINE = 76


@functools.lru_cache(maxsize=256)
def _lines(count: int) -> struct.Struct:
    return struct.Struct(f"{_LINE}s" * count)


def _date(when: datetime) -> str:
    # a batch of emails shares one time: remembered (the offset is part of the key, as equal
    # instants in two zones compare equal but are written differently)
    return _date_in(when, when.utcoffset())


@functools.lru_cache(maxsize=16)
def _date_in(when: datetime, offset: object) -> str:
    return format_datetime(when)


# --- the standard library's policy ----------------------------------------------------------------


class _Verbatim(UnstructuredHeader, BaseHeader):
    """A header written as is, never folded into encoded words: a long ``List-Unsubscribe``
    URL must stay a URL. Its value is checked to be plain ASCII."""

    def fold(self, *, policy: Policy) -> str:
        value = str(self)
        if not value.isascii() or not value.isprintable():
            raise ComposeError(f"{self.name} must be printable ASCII")
        return f"{self.name}: {value}{policy.linesep}"


@functools.cache
def _policy() -> EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()  # our own: policy.SMTP's registry is shared by every user
    for name in ("list-unsubscribe", "list-unsubscribe-post"):
        registry.map_to_type(name, _Verbatim)
    return email.policy.SMTP.clone(header_factory=registry)
