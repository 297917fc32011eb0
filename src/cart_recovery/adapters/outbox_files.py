"""Reading the outbox folder back: the ``.eml`` copy of a reminder, found by its Message-ID.

``OutboxFolder`` is the outbox mailer with these reads: a mailer that ``KeepsCopies``.

The outbox mailer names each file ``<time>-<pid>-<message-id, made file-safe>.eml``; the
Message-ID of a reminder is ``<cr.<digest>.<step>@domain>``, so the ``cr.<digest>.<step>`` part
finds the candidates and the header inside confirms the match.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
from collections.abc import Iterable
from email.message import EmailMessage
from pathlib import Path

from cart_recovery.adapters.mail import OutboxMailer
from cart_recovery.ports import MailCopy

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
