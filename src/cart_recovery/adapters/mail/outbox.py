"""The outbox folder: ``OutboxMailer`` writes each message there as an ``.eml`` file
(development, demos, the dead-letter copy), and the functions below read a reminder's copy
back by its Message-ID or erase it. ``OutboxFolder`` is the outbox mailer with these reads: a
mailer that ``KeepsCopies``.

The outbox mailer names each file ``<time>-<pid>-<message-id, made file-safe>.eml``; the
Message-ID of a reminder is ``<cr.<digest>.<step>@domain>``, so the ``cr.<digest>.<step>`` part
finds the candidates and the header inside confirms the match.
"""

from __future__ import annotations

import builtins
import contextlib
import email
import email.policy
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from cart_recovery.adapters.mail.envelope import (
    Closing,
    Message,
    Written,
    envelope,
    wire_bytes,
    written,
)
from cart_recovery.adapters.mail.wire import WireMessage
from cart_recovery.ports import MailCopy, MailError


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


def _safe_message_id(message: Written) -> str:
    if isinstance(message, WireMessage):
        raw = message.message_id.strip().strip("<>")
    else:
        raw = str(message.get("Message-ID", "")).strip().strip("<>")
    safe = _UNSAFE.sub("_", raw.replace("@", "_at_")).strip("._-")
    return safe[:100] or "no-id"


class OutboxMailer(Closing):
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
        ready = written(message)
        sender, recipients = envelope(ready)  # same contract as SmtpMailer
        international = not all(addr.isascii() for addr in (sender, *recipients))
        data = wire_bytes(ready, utf8=international)
        try:
            self._write(self._file_name(ready), data)
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

    def _file_name(self, message: Written) -> str:
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


# ---- reading the copies back

_OURS = re.compile(r"<?(cr\.[0-9a-f]{8,64}\.\d+)@[^>]+>?")


def find_copy(folder: Path, message_id: str) -> Path | None:
    """The ``.eml`` file in ``folder`` whose Message-ID is ``message_id`` (or None)."""
    match = _OURS.fullmatch(message_id.strip())
    if match is None or not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"*-{match.group(1)}_at_*.eml")):
        message = read_copy(path)
        if message is not None and str(message.get("Message-ID", "")).strip() == message_id:
            return path
    return None


def read_copy(path: Path) -> EmailMessage | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    message = email.message_from_bytes(data, policy=email.policy.default)
    return message if isinstance(message, EmailMessage) else None


def erase_copies(folder: Path, message_ids: Iterable[str]) -> int:
    """Delete the outbox copies of these messages; returns how many files went."""
    erased = 0
    for message_id in message_ids:
        path = find_copy(folder, message_id)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                erased += 1
    return erased


class OutboxFolder(OutboxMailer):
    """The outbox mailer that also reads its folder back (``KeepsCopies``): the owner's cart
    page shows a reminder's copy, and forgetting a shopper erases theirs."""

    def find_copy(self, message_id: str) -> MailCopy | None:
        path = find_copy(self.folder, message_id)
        message = None if path is None else read_copy(path)
        return None if path is None or message is None else MailCopy(path.name, message)

    def erase_copies(self, message_ids: Iterable[str]) -> int:
        return erase_copies(self.folder, message_ids)
