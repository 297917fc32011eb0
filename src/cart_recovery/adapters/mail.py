"""Mail adapters: the ``Mailer`` port over SMTP, a folder of ``.eml`` files, and memory.

All three take an ``email.message.EmailMessage`` whose From, To and Message-ID are set, or a
``WireMessage`` (a composed reminder, already written for the wire, with its envelope), raise
``MailError`` when the message was not accepted, and return once it was.  ``close()`` releases
whatever they hold; they are also context managers.

* ``SmtpMailer``: stdlib ``smtplib``; plain, STARTTLS or implicit TLS; one lazily opened, reused
  connection guarded by a lock.  Configure it with ``parse_smtp_url``.
* ``OutboxMailer``: writes each message atomically to ``<folder>/<time>-<pid>-<message-id>.eml``
  (development, demos, the dead-letter copy).
* ``MemoryMailer``: keeps the messages in ``sent`` (simulation and unit tests).

No error text and no ``repr`` here ever shows the SMTP password.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import copy
import email.policy
import email.utils
import os
import re
import smtplib
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Literal, Self
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from cart_recovery.domain.compose import WireMessage
from cart_recovery.ports import MailError

__all__ = [
    "MailError",
    "MemoryMailer",
    "OutboxMailer",
    "SmtpMailer",
    "SmtpMode",
    "SmtpSettings",
    "parse_smtp_url",
]

SmtpMode = Literal["plain", "starttls", "ssl"]

_DEFAULT_PORTS: dict[SmtpMode, int] = {"plain": 25, "starttls": 587, "ssl": 465}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server.  ``repr``/``str`` leave the password out."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    mode: SmtpMode = "plain"
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.host or any(ch.isspace() for ch in self.host):
            raise ValueError("SMTP host must be a non-empty name without spaces")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"SMTP port must be 1-65535, not {self.port}")
        if self.mode not in _DEFAULT_PORTS:
            raise ValueError(f"SMTP mode must be plain, starttls or ssl, not {self.mode!r}")
        if not self.timeout > 0:
            raise ValueError("SMTP timeout must be a positive number of seconds")
        if self.password is not None and self.username is None:
            raise ValueError("SMTP password given without a user name")


def parse_smtp_url(url: str) -> SmtpSettings:
    """Read ``smtp://[user[:password]@]host[:port][?starttls=true&timeout=30]`` or ``smtps://...``.

    * ``smtp://``: plain SMTP, port 25 by default; with ``?starttls=true`` STARTTLS, port 587.
    * ``smtps://``: implicit TLS, port 465 by default.

    User name and password are percent-decoded (write ``@`` as ``%40``, ``:`` as ``%3A``, ``/``
    as ``%2F``...).  A bad URL raises ``ValueError`` saying what is wrong; the text never
    repeats the password.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("SMTP URL is empty")
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError("SMTP URL is malformed (check the brackets around an IPv6 host)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        shown = f"{scheme!r}" if scheme else "none"
        raise ValueError(f"SMTP URL scheme must be smtp:// or smtps://, got {shown}")
    if "@" in parts.path or "@" in parts.query or "@" in parts.fragment:
        raise ValueError(
            "SMTP URL has an '@' after the host: percent-encode '/', '?', '#', '@' and ':' "
            "in the user name and password"
        )
    if not parts.netloc:
        raise ValueError(f"SMTP URL has no host (expected {scheme}://host)")
    if parts.path not in ("", "/"):
        raise ValueError("SMTP URL must not have a path after the host")
    if parts.fragment:
        raise ValueError("SMTP URL must not have a #fragment")

    host = parts.hostname
    if not host:
        raise ValueError("SMTP URL has no host name")
    try:
        explicit_port = parts.port
    except ValueError:
        raise ValueError("SMTP URL port must be a number from 1 to 65535") from None
    if explicit_port == 0:
        raise ValueError("SMTP URL port must be a number from 1 to 65535")

    starttls: bool | None = None
    timeout = 30.0
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        name = key.lower()
        if name in seen:
            raise ValueError(f"SMTP URL query parameter {name!r} is given twice")
        seen.add(name)
        if name == "starttls":
            flag = value.lower()
            if flag not in _TRUE | _FALSE:
                raise ValueError("SMTP URL starttls= must be true or false")
            starttls = flag in _TRUE
        elif name == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise ValueError("SMTP URL timeout= must be a number of seconds") from None
            if not 0 < timeout < float("inf"):
                raise ValueError("SMTP URL timeout= must be a positive number of seconds")
        else:
            raise ValueError(
                f"SMTP URL has an unknown query parameter {name!r} (known: starttls, timeout)"
            )

    mode: SmtpMode
    if scheme == "smtps":
        if starttls:
            raise ValueError(
                "SMTP URL: starttls=true cannot be combined with smtps:// (already TLS); "
                "use smtp://...?starttls=true for STARTTLS"
            )
        mode = "ssl"
    else:
        mode = "starttls" if starttls else "plain"

    username: str | None = None
    password: str | None = None
    try:
        if parts.username:
            username = unquote(parts.username, errors="strict")
        if parts.password is not None:
            password = unquote(parts.password, errors="strict")
    except UnicodeDecodeError:
        raise ValueError(
            "SMTP URL user name or password is not valid percent-encoded UTF-8"
        ) from None
    if password is not None and username is None:
        raise ValueError("SMTP URL has a password but no user name")

    return SmtpSettings(
        host=host,
        port=explicit_port or _DEFAULT_PORTS[mode],
        username=username,
        password=password,
        mode=mode,
        timeout=timeout,
    )


# --------------------------------------------------------------------------- shared helpers


Message = EmailMessage | WireMessage


def _envelope(message: Message) -> tuple[str, list[str]]:
    """Envelope sender (From) and recipients (To) of ``message``; MailError if missing."""
    if isinstance(message, WireMessage):
        if not message.sender or not message.recipients:
            raise MailError("message has no From or no To address")
        return message.sender, list(message.recipients)
    senders = [addr for _, addr in email.utils.getaddresses(_header_values(message, "From"))]
    senders = [addr for addr in senders if addr]
    if not senders:
        raise MailError("message has no From address")
    recipients = [addr for _, addr in email.utils.getaddresses(_header_values(message, "To"))]
    recipients = [addr for addr in recipients if addr]
    if not recipients:
        raise MailError("message has no To address")
    return senders[0], recipients


def _header_values(message: EmailMessage, name: str) -> list[str]:
    return [str(value) for value in message.get_all(name, [])]


# RFC 5322's hard limit instead of the 78 of ``email.policy.SMTP``: with 78, the stdlib
# folds a header holding one long word (a List-Unsubscribe URL with a signed token) into
# RFC 2047 encoded-words, which mail clients do not decode there, so unsubscribe breaks.
_WIRE_POLICY = email.policy.SMTP.clone(max_line_length=998)


def _wire_bytes(message: Message, *, utf8: bool = False) -> bytes:
    """The message as it goes over SMTP: CRLF line ends, no Bcc headers."""
    if isinstance(message, WireMessage):
        return message.data  # written for the wire already (``OutgoingEmail.to_bytes``)
    if "Bcc" in message or "Resent-Bcc" in message:
        message = copy.copy(message)  # shallow: ``del`` rebinds the header list
        del message["Bcc"]
        del message["Resent-Bcc"]
    policy = _WIRE_POLICY.clone(utf8=True) if utf8 else _WIRE_POLICY
    try:
        return message.as_bytes(policy=policy)
    except (UnicodeError, ValueError, TypeError, LookupError) as exc:
        raise MailError(f"cannot serialise message: {exc}") from exc


class _Scrubber:
    """Removes every form in which a password could travel over SMTP from a text."""

    def __init__(self, username: str | None, password: str | None) -> None:
        secrets: set[str] = set()
        if password:
            raw = password.encode("utf-8")
            secrets.add(password)
            secrets.add(base64.b64encode(raw).decode("ascii"))  # AUTH LOGIN
            user = (username or "").encode("utf-8")
            secrets.add(base64.b64encode(b"\0" + user + b"\0" + raw).decode("ascii"))  # PLAIN
            secrets.add(repr(password)[1:-1])  # as it would appear inside a repr()
            secrets.add(quote(password, safe=""))  # as written in an SMTP URL
        # Longest first so that a secret containing another one is removed whole.
        self._secrets = sorted(secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _reply_text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())


def _describe(exc: BaseException) -> tuple[str, int | None]:
    """A short human text for an smtplib/socket/ssl error, and the SMTP code if any."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _refused_text(exc.recipients)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        text = f"sender {exc.sender} refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}"
        return text, exc.smtp_code
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"authentication failed: {exc.smtp_code} {_reply_text(exc.smtp_error)}"
        return text, exc.smtp_code
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"server replied {exc.smtp_code} {_reply_text(exc.smtp_error)}", exc.smtp_code
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"server closed the connection ({str(exc) or 'no reason given'})", None
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"not supported by the server: {exc}", None
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc}", None
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}", None
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host: {exc.strerror or exc}", None
    if isinstance(exc, TimeoutError):
        return "timed out", None
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc) or type(exc).__name__), None
    return f"{type(exc).__name__}: {exc}", None


def _refused_text(recipients: dict[str, tuple[int, bytes]]) -> tuple[str, int | None]:
    shown = ", ".join(
        f"{addr} ({code} {_reply_text(reply)})" for addr, (code, reply) in recipients.items()
    )
    codes = [code for code, _ in recipients.values()]
    return f"recipient refused: {shown}", (codes[0] if codes else None)


# --------------------------------------------------------------------------- SMTP


class _Client(smtplib.SMTP):
    """``smtplib.SMTP`` that connects explicitly and checks TLS certificates against the host
    it connected to (``connect()`` alone leaves the name used by STARTTLS empty)."""

    _host: str

    def open(self, host: str, port: int) -> None:
        self._host = host  # read by starttls() and SMTP_SSL as server_hostname
        code, reply = self.connect(host, port)
        if code != 220:
            raise smtplib.SMTPConnectError(code, reply)

    def log_in(self, user: str, password: str) -> None:
        """``login()``, also for non-ASCII credentials (smtplib encodes those as ASCII and
        fails): they go as UTF-8 with AUTH PLAIN (RFC 4616) or, failing that, AUTH LOGIN."""
        if user.isascii() and password.isascii():
            self.login(user, password)
            return
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        mechanisms = self.esmtp_features["auth"].upper().split()
        if "PLAIN" in mechanisms:
            token = _b64(b"\0" + user.encode() + b"\0" + password.encode())
            code, reply = self.docmd("AUTH", f"PLAIN {token}")
        elif "LOGIN" in mechanisms:
            code, reply = self.docmd("AUTH", f"LOGIN {_b64(user.encode())}")
            if code == 334:
                code, reply = self.docmd(_b64(password.encode()))
        else:
            raise smtplib.SMTPException("No suitable authentication method found.")
        if code not in (235, 503):  # 503: already authenticated
            raise smtplib.SMTPAuthenticationError(code, reply)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _TlsClient(_Client, smtplib.SMTP_SSL):
    """Implicit TLS (smtps://)."""


def _close_quietly(client: smtplib.SMTP, *, polite: bool) -> None:
    if polite:
        with contextlib.suppress(smtplib.SMTPException, OSError, ValueError):
            client.quit()
    client.close()


def _still_open(client: smtplib.SMTP) -> bool:
    try:
        code, _ = client.noop()
    except (smtplib.SMTPException, OSError, ValueError):
        return False
    return code == 250


class SmtpMailer:
    """Sends over SMTP with ``smtplib``.

    Nothing happens in the constructor: the connection is opened on the first ``send`` and kept
    for the next ones (checked with NOOP first, reopened once if the server dropped it).
    ``ssl_context`` defaults to ``ssl.create_default_context()`` (tests pass one trusting their
    own CA).  With a user name it logs in after TLS.  Safe to share between threads.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.settings = settings
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self._scrub = _Scrubber(settings.username, settings.password)
        self._lock = threading.Lock()
        self._client: _Client | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> SmtpMailer:
        return cls(parse_smtp_url(url), ssl_context=ssl_context, local_hostname=local_hostname)

    def __repr__(self) -> str:
        return f"SmtpMailer({self.settings!r})"

    def send(self, message: Message) -> None:
        sender, recipients = _envelope(message)
        international = not all(addr.isascii() for addr in (sender, *recipients))
        data = _wire_bytes(message, utf8=international)
        options: tuple[str, ...] = ()
        with self._lock:
            client = self._client
            if client is not None and not _still_open(client):
                self._client = None
                _close_quietly(client, polite=False)
                client = None
            if client is None:
                client = self._connect()
                self._client = client
            if international:
                if not client.has_extn("smtputf8"):
                    raise MailError(
                        "SMTP sending: the server does not support SMTPUTF8, "
                        "needed for non-ASCII addresses"
                    )
                options = ("SMTPUTF8", "BODY=8BITMIME")
            elif not data.isascii() and client.has_extn("8bitmime"):
                options = ("BODY=8BITMIME",)
            try:
                refused = client.sendmail(sender, recipients, data, mail_options=options)
            except (
                smtplib.SMTPRecipientsRefused,
                smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError,
            ) as exc:
                # smtplib has already reset the transaction; the connection stays usable
                # (and if the server hung up with 421, the next NOOP finds out).
                raise self._error("sending", exc) from None
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                self._client = None
                _close_quietly(client, polite=False)
                raise self._error("sending", exc) from None
        if refused:
            text, code = _refused_text(refused)
            raise MailError(self._scrub(f"SMTP sending: {text}"), code=code)

    def close(self) -> None:
        """Say QUIT and close the connection, if any.  The mailer can be used again after."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                _close_quietly(client, polite=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _connect(self) -> _Client:
        settings = self.settings
        client: _Client
        if settings.mode == "ssl":
            client = _TlsClient(
                local_hostname=self._local_hostname,
                timeout=settings.timeout,
                context=self._tls_context(),
            )
        else:
            client = _Client(local_hostname=self._local_hostname, timeout=settings.timeout)
        step = f"connecting to {settings.host}:{settings.port}"
        try:
            client.open(settings.host, settings.port)
            step = f"greeting {settings.host}:{settings.port}"
            client.ehlo_or_helo_if_needed()
            if settings.mode == "starttls":
                step = f"STARTTLS with {settings.host}:{settings.port}"
                client.starttls(context=self._tls_context())
                client.ehlo_or_helo_if_needed()
            if settings.username is not None:
                step = f"logging in to {settings.host}:{settings.port} as {settings.username!r}"
                client.log_in(settings.username, settings.password or "")
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            _close_quietly(client, polite=False)
            raise self._error(step, exc) from None
        except BaseException:
            _close_quietly(client, polite=False)
            raise
        return client

    def _error(self, step: str, exc: BaseException) -> MailError:
        # ``from None`` at the call sites: the original exception is summarised here and not
        # chained, so no traceback can carry a server echo of the credentials.
        text, code = _describe(exc)
        return MailError(self._scrub(f"SMTP {step}: {text}"), code=code)


# --------------------------------------------------------------------------- outbox folder


class _UniqueClock:
    """Wall-clock nanoseconds, strictly increasing within this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self) -> int:
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return self._last


_unique_ns = _UniqueClock()
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_message_id(message: Message) -> str:
    if isinstance(message, WireMessage):
        raw = message.message_id.strip().strip("<>")
    else:
        raw = str(message.get("Message-ID", "")).strip().strip("<>")
    safe = _UNSAFE.sub("_", raw.replace("@", "_at_")).strip("._-")
    return safe[:100] or "no-id"


class OutboxMailer:
    """Writes each message to ``folder`` as an ``.eml`` file instead of sending it.

    Names are ``20250131T235959.123456789Z-<pid>-<message-id>.eml`` (UTC send time, unique
    and increasing within a process), so they sort by send time and never collide.  Each
    file is written to a temporary file in the same folder, flushed, then renamed into place:
    a reader never sees half a message.  The folder is created when missing.  The bytes are
    what ``SmtpMailer`` would put on the wire: ``email.policy.SMTP`` (CRLF), Bcc removed,
    header lines unfolded up to RFC 5322's 998 characters.
    """

    SUFFIX = ".eml"

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.folder)!r})"

    def send(self, message: Message) -> None:
        sender, recipients = _envelope(message)  # same contract as SmtpMailer
        international = not all(addr.isascii() for addr in (sender, *recipients))
        data = _wire_bytes(message, utf8=international)
        try:
            self._write(self._file_name(message), data)
        except OSError as exc:
            raise MailError(f"cannot write to outbox {self.folder}: {exc.strerror or exc}") from exc

    def list(self) -> builtins.list[Path]:
        """The written messages, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(
            path
            for path in self.folder.iterdir()
            if path.name.endswith(self.SUFFIX) and not path.name.startswith(".")
        )

    def close(self) -> None:
        """Nothing to release; present so that every mailer can be closed alike."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _file_name(self, message: Message) -> str:
        ns = _unique_ns()
        seconds, fraction = divmod(ns, 1_000_000_000)
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%M%S")
        return f"{stamp}.{fraction:09d}Z-{os.getpid()}-{_safe_message_id(message)}{self.SUFFIX}"

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, self.folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(self.folder)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); best effort elsewhere."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- memory


class MemoryMailer:
    """Keeps sent messages in ``sent`` (copies, as they were at send time).

    ``fail_next=n`` makes the next ``n`` sends raise ``MailError`` without keeping the message;
    set the attribute again at any time.  ``attempts`` counts every call to ``send``.
    """

    def __init__(self, *, fail_next: int = 0) -> None:
        if fail_next < 0:
            raise ValueError("fail_next must be >= 0")
        self.sent: list[EmailMessage] = []
        self.fail_next = fail_next
        self.attempts = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryMailer(sent={len(self.sent)}, fail_next={self.fail_next})"

    def send(self, message: Message) -> None:
        with self._lock:
            self.attempts += 1
            _envelope(message)
            if self.fail_next > 0:
                self.fail_next -= 1
                raise MailError("simulated mail failure (MemoryMailer.fail_next)", code=451)
            if isinstance(message, WireMessage):
                self.sent.append(message.parsed())  # what a mail client would read
            else:
                self.sent.append(copy.deepcopy(message))

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()

    def close(self) -> None:
        """Nothing to release; present so that every mailer can be closed alike."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
