"""The mail adapters against a real SMTP server (aiosmtpd on 127.0.0.1) and a real folder."""

from __future__ import annotations

import email
import email.policy
import email.utils
import os
import re
import ssl
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from cart_recovery.adapters.mail import (
    MailError,
    MemoryMailer,
    OutboxMailer,
    SmtpMailer,
    SmtpSettings,
    parse_smtp_url,
)
from tests.aws.services import free_port
from tests.fakes.smtp_server import Server

USER = "shop@example.com"
PASSWORD = "p@ss:w/rd%Sécret 42"  # needs percent-encoding in a URL; not ASCII
ASCII_PASSWORD = "plain-ascii-Secret-77"
# A signed token makes the unsubscribe URLs longer than a 78-character header line.
TOKEN = "eyJjYXJ0IjoiYzEyMyIsInNob3AiOiJzMSJ9.ZmFrZS1zaWduYXR1cmUtZm9yLXRlc3Rz.aGVsbG8td29ybGQ"
WRONG_PASSWORD = "Wrong-Hunter2-Passphrase"

# --------------------------------------------------------------------------- helpers


def make_message(n: int = 1, *, message_id: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Corner Shop <shop@example.com>"
    msg["To"] = "Ana Müller <ana@example.org>"
    msg["Subject"] = f"Du hast etwas im Warenkorb vergessen 🛒 #{n}"
    msg["Date"] = email.utils.formatdate(1_700_000_000 + n, usegmt=True)
    msg["Message-ID"] = message_id or email.utils.make_msgid(f"r{n}", domain="shop.example")
    msg["List-Unsubscribe"] = (
        f"<https://shop.example/unsubscribe/{TOKEN}>, "
        f"<mailto:unsubscribe@shop.example?subject={TOKEN}>"
    )
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(f"Hallo Ana,\n\ndein Warenkorb wartet: Tasse Größe L × 2.\n\n-- {n}\n")
    msg.add_alternative(
        f"<html><body><p>Hallo Ana,</p><p>Tasse Größe L × 2</p><p>{n}</p></body></html>\n",
        subtype="html",
    )
    return msg


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # an 8bit body parsed from the wire keeps CRLF


def assert_same_message(got: EmailMessage, sent: EmailMessage) -> None:
    for name in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    ):
        assert got[name] == sent[name], name
    assert got.get_content_type() == "multipart/alternative"
    assert body(got, "plain") == body(sent, "plain")
    assert body(got, "html") == body(sent, "html")


def assert_unsubscribe_headers_verbatim(data: bytes) -> None:
    """Mail clients read these headers raw: no RFC 2047 encoded-words, no folding inside."""
    assert (
        f"\r\nList-Unsubscribe: <https://shop.example/unsubscribe/{TOKEN}>, "
        f"<mailto:unsubscribe@shop.example?subject={TOKEN}>\r\n"
    ).encode() in data
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data


def full_text(exc: BaseException) -> str:
    """Everything a log line or traceback of ``exc`` would show."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


@dataclass
class Pki:
    ca: trustme.CA
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    return Pki(ca, server_context)


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) in {
        (USER.encode(), PASSWORD.encode()),
        (USER.encode(), ASCII_PASSWORD.encode()),
    }
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535


def start_tls_server(pki: Pki, **extra: Any) -> Server:
    return Server(
        tls_context=pki.server_context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
        **extra,
    )


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[Server]:
    srv = start_tls_server(pki)
    yield srv
    srv.stop()


def url(scheme: str, port: int, password: str = PASSWORD, query: str = "") -> str:
    creds = f"{quote(USER, safe='')}:{quote(password, safe='')}"
    return f"{scheme}://{creds}@127.0.0.1:{port}{query}"


# --------------------------------------------------------------------------- SMTP: plain


def test_plain_smtp_delivers_multipart_message_intact(server: Server) -> None:
    sent = make_message()
    with SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10)) as mailer:
        mailer.send(sent)

    [got] = server.handler.messages
    assert got.mail_from == "shop@example.com"
    assert got.rcpt_tos == ["ana@example.org"]
    assert not got.tls
    assert_unsubscribe_headers_verbatim(got.content)
    assert_same_message(parse(got.content), sent)


def test_bcc_is_not_transmitted(server: Server) -> None:
    sent = make_message()
    sent["Bcc"] = "audit@shop.example"
    with SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10)) as mailer:
        mailer.send(sent)
    [got] = server.handler.messages
    assert got.rcpt_tos == ["ana@example.org"]
    assert b"audit@shop.example" not in got.content
    assert sent["Bcc"] == "audit@shop.example"  # the caller's message is untouched


def test_envelope_recipients_come_from_to(server: Server) -> None:
    sent = make_message()
    del sent["To"]
    sent["To"] = "Ana <ana@example.org>, bob@example.net"
    with SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10)) as mailer:
        mailer.send(sent)
    [got] = server.handler.messages
    assert got.rcpt_tos == ["ana@example.org", "bob@example.net"]


def test_constructor_does_not_connect(server: Server) -> None:
    SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10))
    closed_port = free_port()
    SmtpMailer(SmtpSettings(host="127.0.0.1", port=closed_port, timeout=10))  # no error
    assert server.handler.connections == []


def test_message_without_recipient_is_refused_before_connecting(server: Server) -> None:
    sent = make_message()
    del sent["To"]
    with (
        SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10)) as mailer,
        pytest.raises(MailError, match="no To address"),
    ):
        mailer.send(sent)
    assert server.handler.connections == []


# --------------------------------------------------------------------------- SMTP: reuse


def test_two_sends_share_one_connection_and_close_ends_it(server: Server) -> None:
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10))
    mailer.send(make_message(1))
    mailer.send(make_message(2))
    assert len(server.handler.messages) == 2
    assert len(server.handler.connections) == 1

    mailer.close()
    mailer.close()  # idempotent
    mailer.send(make_message(3))  # usable again: opens a new connection
    mailer.close()
    assert len(server.handler.messages) == 3
    assert len(server.handler.connections) == 2


def test_reconnects_once_when_the_server_dropped_the_connection(server: Server) -> None:
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10))
    mailer.send(make_message(1))
    server.stop()  # drops the idle connection
    server.start()  # same port, new process-wide listener
    mailer.send(make_message(2))
    mailer.close()
    assert [parse(m.content)["Subject"] for m in server.handler.messages] == [
        make_message(1)["Subject"],
        make_message(2)["Subject"],
    ]
    assert len(server.handler.connections) == 2


def test_server_stopped_raises_mail_error(server: Server) -> None:
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10))
    mailer.send(make_message(1))
    server.stop()
    with pytest.raises(MailError, match=rf"127\.0\.0\.1:{server.port}") as caught:
        mailer.send(make_message(2))
    assert "refused" in str(caught.value).lower()
    mailer.close()

    server.start()  # a failed mailer recovers once the server is back
    mailer.send(make_message(3))
    mailer.close()
    assert len(server.handler.messages) == 2


def test_nothing_listening_raises_mail_error() -> None:
    port = free_port()
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, timeout=10))
    with pytest.raises(MailError, match=rf"connecting to 127\.0\.0\.1:{port}"):
        mailer.send(make_message())


def test_threads_share_one_mailer(server: Server) -> None:
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, timeout=10))
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(5):
                mailer.send(make_message(worker * 100 + i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mailer.close()
    assert errors == []
    assert len(server.handler.messages) == 20
    assert len(server.handler.connections) == 1
    ids = {parse(m.content)["Message-ID"] for m in server.handler.messages}
    assert len(ids) == 20


# --------------------------------------------------------------------------- SMTP: TLS + AUTH


def test_starttls_and_auth_deliver(tls_server: Server, pki: Pki) -> None:
    settings = parse_smtp_url(url("smtp", tls_server.port, query="?starttls=true&timeout=10"))
    assert settings.mode == "starttls"
    assert settings.password == PASSWORD
    sent = make_message()
    with SmtpMailer(settings, ssl_context=pki.client_context()) as mailer:
        mailer.send(sent)
        mailer.send(make_message(2))

    first, _ = tls_server.handler.messages
    assert first.tls
    assert first.authenticated is True
    assert first.rcpt_tos == ["ana@example.org"]
    assert_unsubscribe_headers_verbatim(first.content)
    assert_same_message(parse(first.content), sent)
    assert len(tls_server.handler.connections) == 1


@pytest.mark.parametrize("password", [PASSWORD, ASCII_PASSWORD])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_mechanisms_with_ascii_and_utf8_passwords(
    pki: Pki, mechanism: str, password: str
) -> None:
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    srv = start_tls_server(pki, auth_exclude_mechanism=[other])
    try:
        settings = parse_smtp_url(
            url("smtp", srv.port, password=password, query="?starttls=true&timeout=10")
        )
        with SmtpMailer(settings, ssl_context=pki.client_context()) as mailer:
            mailer.send(make_message())
    finally:
        srv.stop()
    [got] = srv.handler.messages
    assert got.authenticated is True


def test_starttls_wrong_password_is_mail_error_without_password(
    tls_server: Server, pki: Pki
) -> None:
    settings = parse_smtp_url(
        url("smtp", tls_server.port, password=WRONG_PASSWORD, query="?starttls=true&timeout=10")
    )
    mailer = SmtpMailer(settings, ssl_context=pki.client_context())
    with pytest.raises(MailError) as caught:
        mailer.send(make_message())
    text = full_text(caught.value)
    assert "authentication failed" in str(caught.value)
    assert caught.value.code == 535
    assert WRONG_PASSWORD not in text
    assert quote(WRONG_PASSWORD, safe="") not in text
    assert tls_server.handler.messages == []
    assert WRONG_PASSWORD not in repr(mailer)


def test_starttls_untrusted_certificate_is_mail_error(tls_server: Server) -> None:
    settings = parse_smtp_url(url("smtp", tls_server.port, query="?starttls=true&timeout=10"))
    mailer = SmtpMailer(settings)  # default context: the test CA is not trusted
    with pytest.raises(MailError, match="certificate verification failed"):
        mailer.send(make_message())
    assert tls_server.handler.messages == []


def test_plain_client_cannot_log_in_where_tls_is_required(tls_server: Server) -> None:
    settings = parse_smtp_url(url("smtp", tls_server.port, query="?timeout=10"))
    with pytest.raises(MailError) as caught:
        SmtpMailer(settings).send(make_message())
    assert PASSWORD not in full_text(caught.value)
    assert tls_server.handler.messages == []


def test_implicit_tls_delivers(pki: Pki) -> None:
    srv = Server(ssl_context=pki.server_context)
    try:
        settings = parse_smtp_url(f"smtps://127.0.0.1:{srv.port}?timeout=10")
        assert settings.mode == "ssl"
        sent = make_message()
        with SmtpMailer(settings, ssl_context=pki.client_context()) as mailer:
            mailer.send(sent)
    finally:
        srv.stop()
    [got] = srv.handler.messages
    assert_same_message(parse(got.content), sent)


# --------------------------------------------------------------------------- parse_smtp_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("smtp://mail.example.com", SmtpSettings("mail.example.com", 25, None, None, "plain")),
        (
            "smtp://user:secret@mail.example.com:2525",
            SmtpSettings("mail.example.com", 2525, "user", "secret", "plain"),
        ),
        (
            "smtp://user:secret@mail.example.com?starttls=true",
            SmtpSettings("mail.example.com", 587, "user", "secret", "starttls"),
        ),
        (
            "smtp://user@mail.example.com:2587?starttls=1",
            SmtpSettings("mail.example.com", 2587, "user", None, "starttls"),
        ),
        (
            "smtp://mail.example.com?starttls=false",
            SmtpSettings("mail.example.com", 25, None, None, "plain"),
        ),
        (
            "smtps://user:secret@mail.example.com",
            SmtpSettings("mail.example.com", 465, "user", "secret", "ssl"),
        ),
        (
            "SMTPS://user:secret@Mail.Example.COM:10465/",
            SmtpSettings("mail.example.com", 10465, "user", "secret", "ssl"),
        ),
        (
            "smtp://shop%40example.com:p%40ss%3Aw%2Frd%25%20%C3%A9@mail.example.com",
            SmtpSettings("mail.example.com", 25, "shop@example.com", "p@ss:w/rd% é", "plain"),
        ),
        ("smtp://user:@h.example", SmtpSettings("h.example", 25, "user", "", "plain")),
        ("smtp://[::1]:2525", SmtpSettings("::1", 2525, None, None, "plain")),
        (
            "smtp://h.example?timeout=2.5&starttls=yes",
            SmtpSettings("h.example", 587, None, None, "starttls", timeout=2.5),
        ),
    ],
)
def test_parse_smtp_url(text: str, expected: SmtpSettings) -> None:
    assert parse_smtp_url(text) == expected


def test_parse_smtp_url_round_trips_any_password() -> None:
    settings = parse_smtp_url(url("smtp", 2525))
    assert (settings.username, settings.password, settings.port) == (USER, PASSWORD, 2525)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("http://u:hunter2@h.example", "scheme must be smtp:// or smtps://, got 'http'"),
        ("u:hunter2@h.example", "scheme"),
        ("smtp:u:hunter2@h.example", "'@' after the host"),
        ("smtp://", "no host"),
        ("smtp://u:hunter2@", "no host name"),
        ("smtp://u:hunter2@h.example:99999", "port must be a number from 1 to 65535"),
        ("smtp://u:hunter2@h.example:abc", "port must be a number"),
        ("smtp://u:hunter2@h.example:0", "port must be a number"),
        ("smtp://u:hunt/er2@h.example", "percent-encode"),
        ("smtp://u:hunt?er2@h.example", "percent-encode"),
        ("smtp://u:hunt#er2@h.example", "percent-encode"),
        ("smtp://u:hunter2@h.example/inbox", "path"),
        ("smtp://u:hunter2@h.example#x", "fragment"),
        ("smtp://u:hunter2@h.example?starttls=maybe", "starttls= must be true or false"),
        ("smtp://u:hunter2@h.example?tls=1", "unknown query parameter 'tls'"),
        ("smtp://u:hunter2@h.example?starttls=1&starttls=0", "given twice"),
        ("smtp://u:hunter2@h.example?timeout=soon", "timeout= must be a number"),
        ("smtp://u:hunter2@h.example?timeout=-1", "positive"),
        ("smtps://u:hunter2@h.example?starttls=true", "cannot be combined with smtps://"),
        ("smtp://:hunter2@h.example", "password but no user name"),
        ("smtp://u:hunter2%FF@h.example", "not valid percent-encoded UTF-8"),
        ("smtp://u:hunter2@[::1", "malformed"),
    ],
)
def test_parse_smtp_url_errors_say_what_is_wrong_without_the_password(
    text: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)) as caught:
        parse_smtp_url(text)
    for fragment in ("hunter2", "hunt", "er2"):
        assert fragment not in full_text(caught.value)


def test_settings_repr_and_str_hide_the_password() -> None:
    settings = parse_smtp_url(url("smtps", 465))
    for shown in (repr(settings), str(settings), f"{settings}", repr(SmtpMailer(settings))):
        assert PASSWORD not in shown
        assert quote(PASSWORD, safe="") not in shown
        assert "127.0.0.1" in shown


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"host": "", "port": 25}, "host"),
        ({"host": "h", "port": 0}, "port"),
        ({"host": "h", "port": 70000}, "port"),
        ({"host": "h", "port": 25, "mode": "tls"}, "mode"),
        ({"host": "h", "port": 25, "timeout": 0}, "timeout"),
        ({"host": "h", "port": 25, "password": "hunter2"}, "without a user name"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        SmtpSettings(**kwargs)
    assert "hunter2" not in str(caught.value)


# --------------------------------------------------------------------------- outbox folder


def test_outbox_writes_parseable_eml_files_in_send_order(tmp_path: Path) -> None:
    folder = tmp_path / "does" / "not" / "exist"
    outbox = OutboxMailer(folder)
    assert outbox.list() == []
    messages = [
        make_message(1, message_id="<a/b\\c..d@shop.example>"),
        make_message(2, message_id="<a/b\\c..d@shop.example>"),  # same id: no collision
        make_message(3),
        make_message(4, message_id="<../../etc/passwd>"),
    ]
    for msg in messages:
        outbox.send(msg)

    paths = outbox.list()
    assert len(paths) == 4
    assert paths == sorted(paths)
    assert sorted(os.listdir(folder)) == [p.name for p in paths]  # no temp files left
    for path, sent in zip(paths, messages, strict=True):
        assert path.parent == folder
        assert re.fullmatch(r"[0-9]{8}T[0-9]{6}\.[0-9]{9}Z-[A-Za-z0-9._-]+\.eml", path.name)
        data = path.read_bytes()
        assert_unsubscribe_headers_verbatim(data)
        assert re.search(rb"(?<!\r)\n", data) is None  # CRLF only
        assert_same_message(parse(data), sent)


def test_outbox_refuses_message_without_sender(tmp_path: Path) -> None:
    msg = make_message()
    del msg["From"]
    outbox = OutboxMailer(tmp_path)
    with pytest.raises(MailError, match="no From address"):
        outbox.send(msg)
    assert list(tmp_path.iterdir()) == []


def test_outbox_unwritable_folder_is_mail_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MailError, match="cannot write to outbox"):
        OutboxMailer(blocker / "outbox").send(make_message())


# --------------------------------------------------------------------------- memory


def test_memory_mailer_keeps_copies_and_simulates_failures() -> None:
    mailer = MemoryMailer(fail_next=2)
    msg = make_message()
    for _ in range(2):
        with pytest.raises(MailError, match="simulated"):
            mailer.send(msg)
    assert mailer.sent == []
    mailer.send(msg)
    del msg["Subject"]  # later changes do not alter what was sent
    assert mailer.attempts == 3
    [kept] = mailer.sent
    assert kept["Subject"] == make_message()["Subject"]
    mailer.fail_next = 1
    with pytest.raises(MailError):
        mailer.send(make_message(2))
    assert len(mailer.sent) == 1
