"""``SmtpMailer``: the ``Mailer`` port over SMTP with stdlib ``smtplib``; plain, STARTTLS or
implicit TLS; one lazily opened, reused connection guarded by a lock.

No error text and no ``repr`` here ever shows the SMTP password.
"""

from __future__ import annotations

import base64
import contextlib
import smtplib
import socket
import ssl
import threading
from urllib.parse import quote

from cart_recovery.adapters.mail.envelope import Closing, Message, envelope, wire_bytes, written
from cart_recovery.adapters.mail.settings import SmtpSettings, parse_smtp_url
from cart_recovery.ports import MailError


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
    # The error names no address (it reaches logs): only the server's words, the recipient's
    # address in them replaced too.
    shown = ", ".join(
        f"{code} {_reply_text(reply).replace(addr, '<recipient>')}"
        for addr, (code, reply) in recipients.items()
    )
    codes = [code for code, _ in recipients.values()]
    return f"recipient refused: {shown}", (codes[0] if codes else None)


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


class SmtpMailer(Closing):
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
        ready = written(message)
        sender, recipients = envelope(ready)
        international = not all(addr.isascii() for addr in (sender, *recipients))
        data = wire_bytes(ready, utf8=international)
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
                # (and if the server hung up with 421, the next NOOP finds out). A 5xx to
                # RCPT TO or to DATA refuses this recipient for good: a hard bounce.
                error = self._error("sending", exc)
                error.refused = not isinstance(exc, smtplib.SMTPSenderRefused) and (
                    error.code is not None and 500 <= error.code < 600
                )
                raise error from None
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                self._client = None
                _close_quietly(client, polite=False)
                raise self._error("sending", exc) from None
        if refused:
            text, code = _refused_text(refused)
            permanent = code is not None and 500 <= code < 600
            raise MailError(self._scrub(f"SMTP sending: {text}"), code=code, refused=permanent)

    def close(self) -> None:
        """Say QUIT and close the connection, if any.  The mailer can be used again after."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                _close_quietly(client, polite=True)

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
