"""The ports: what the service needs from the outside world, each with its contract.

Every port has an in-memory adapter (``adapters/memory.py``) that is a complete implementation,
and the contract suites in ``tests/contract`` run against every adapter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, runtime_checkable

from cart_recovery.domain.alerts import Alert
from cart_recovery.domain.compose import Links, OutgoingEmail
from cart_recovery.domain.export_rows import Row
from cart_recovery.domain.feedback import MailFeedback, Suppression
from cart_recovery.domain.model import AuditEntry, Cart, CartEvent, Outcome, SendRecord
from cart_recovery.domain.owners import OwnerAccount, OwnerSession
from cart_recovery.domain.privacy import Forgotten
from cart_recovery.domain.rules import Rules
from cart_recovery.domain.timers import Timer, TimerChange
from cart_recovery.domain.voice import Voice


class StaleCart(Exception):
    """A conditional write found the cart at another version than the caller read: retry."""


@dataclass(frozen=True)
class StoredEvent:
    """One cart event as the store keeps it, and when it was received."""

    event: CartEvent
    received_at: datetime


class Claim(enum.StrEnum):
    CLAIMED = "claimed"  # this caller, and only this caller, may now send the step
    ALREADY = "already"  # the step is claimed or done already: never send it again
    STOPPED = "stopped"  # the cart is bought or closed (or gone)
    UNSUBSCRIBED = "unsubscribed"  # the address is on the unsubscribe list


class CartStore(Protocol):
    """Cart rows, send history, audit, unsubscribes and processed event ids.

    Every write method is atomic: all of it happens or none of it does. Writes that carry a
    ``timer`` change apply it together with the rows (the embedded store in one transaction;
    a store whose timers live elsewhere applies it right after its own commit, idempotently).
    Emails are compared case-insensitively (the store keys them by ``normalise_email``). The
    unsubscribe list keeps no address, only its keyed digest (``domain.privacy.EmailKey``,
    given to the store when it is made).
    """

    def load(self, cart_id: str) -> tuple[Cart | None, list[SendRecord]]:
        """The cart row (or None) and its send records ordered by step."""

    def sent_to(self, email: str, since: datetime) -> list[SendRecord]:
        """Records with outcome ``sent`` to ``email`` at or after ``since``, any cart."""

    def is_unsubscribed(self, email: str) -> bool: ...

    def apply_event(
        self,
        event: CartEvent,
        *,
        cart: Cart | None,
        expected_version: int | None,
        audit: AuditEntry | None,
        timer: TimerChange | None,
        now: datetime,
    ) -> bool:
        """Record ``event`` as processed for its cart and write ``cart`` (None: row unchanged).

        Returns False, writing nothing, when ``(cart_id, event_id)`` was processed before.
        ``expected_version`` is the version the caller read (None: no row existed); if the row
        is at another version now, raises StaleCart and writes nothing. A written cart's
        version is ``expected_version + 1`` (0 for a new row) whatever ``cart.version`` says.
        """

    def save_cart(
        self,
        cart: Cart,
        *,
        expected_version: int,
        audit: AuditEntry | None,
        timer: TimerChange | None,
    ) -> Cart:
        """Conditional write of an existing cart (StaleCart as above); returns it as stored."""

    def set_timer(self, cart_id: str, change: TimerChange, *, expected_version: int) -> None:
        """Apply a timer change if the cart is still at ``expected_version`` (else StaleCart)."""

    def record_send(self, record: SendRecord, *, timer: TimerChange | None) -> bool:
        """Write a ``skipped`` or ``deferred`` record unless the step is claimed or done already
        (then False, nothing written). ``timer`` is written with it, but sets a timer only
        while the cart is open: a cart bought or closed since it was read gets none."""

    def claim_send(self, cart_id: str, step: int, recipient: str, now: datetime) -> Claim:
        """Atomically: if the cart is open, the address not unsubscribed, and the step has no
        record or only a ``deferred`` one, mark it ``claimed`` and return CLAIMED. Exactly one
        of any number of concurrent callers gets CLAIMED."""

    def finish_send(
        self,
        cart_id: str,
        step: int,
        outcome: Outcome,
        *,
        at: datetime,
        message_id: str | None = None,
        reason: str | None = None,
        due: datetime | None = None,
        timer: TimerChange | None = None,
        attempts: int = 0,
    ) -> None:
        """Move a ``claimed`` step to ``sent``, ``skipped``, or back to ``deferred`` (a send
        that failed before the message left). ``attempts``: the failed mail attempts so far,
        kept with the step (``load`` gives them back; 0 clears them). Does nothing if the step
        is not claimed. ``timer`` as for ``record_send``: none for a cart no longer open."""

    def resolve_claims(self, now: datetime, audit_by: str = "system") -> list[SendRecord]:
        """Turn every ``claimed`` step into ``uncertain`` (a crash fell between claim and send);
        called at start-up, before any sender runs. Writes an audit row for each."""

    def unsubscribe(
        self, email: str, *, source: str, at: datetime, reason: str | None = None
    ) -> bool:
        """Put the address on the list (False if it was there already). Writes an audit row
        for every cart of that address (by ``source``, detail ``reason``). The row keeps
        ``source``, ``reason`` and the address's newest cart. An address already on the list
        keeps its row, unless ``domain.feedback.replaces(source, old source)``: then the row
        becomes this one (a complaint is final), audited the same way, and True."""

    def unsubscribe_key(
        self,
        digest: str,
        *,
        source: str,
        at: datetime,
        email: str | None = None,
        reason: str | None = None,
        cart_id: str | None = None,
    ) -> bool:
        """``unsubscribe`` of the address whose keyed digest is ``digest`` (a link's). When
        ``email`` (the address of the cart the link was about) has that digest, exactly
        ``unsubscribe(email)``; otherwise (erased, or the cart's address changed since) the
        list gets the digest alone (with ``cart_id``, the link's cart) and no audit row."""

    def suppression(self, email: str) -> Suppression | None:
        """The list's row for this address, or None when it is not on the list."""

    def suppression_key(self, digest: str) -> Suppression | None:
        """The list's row for this keyed digest, or None."""

    def resubscribe_key(
        self, digest: str, *, at: datetime, by: str, email: str | None = None
    ) -> bool:
        """Take the digest off the list, with its counted soft bounces, unless its row's source
        ``domain.feedback.is_final`` (then, or when it is not on the list: False, nothing
        changes). When ``email`` has that digest, an audit row ``resubscribed`` (by ``by``) for
        every cart of the address."""

    def note_soft_bounce(
        self, email: str, *, at: datetime, since: datetime, event_id: str = ""
    ) -> int:
        """Count one soft bounce of the address at ``at``; returns how many it has at or after
        ``since`` (this one included). Kept by keyed digest, like the list. A non-empty
        ``event_id`` counted for the address before is not counted again."""

    def suppressions(self, limit: int = 200) -> list[Suppression]:
        """The list's rows, newest first, at most ``limit``."""

    def suppressions_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """How many addresses went on the list in [start, end), by source (sources with none
        are absent)."""

    def audit(self, cart_id: str) -> list[AuditEntry]: ...

    def carts_of(self, email: str) -> list[Cart]: ...

    def carts_between(self, start: datetime, end: datetime) -> list[Cart]:
        """Carts first seen (``created_at``) in [start, end), ordered by (created_at, cart_id)."""

    def touched_between(self, start: datetime, end: datetime) -> list[str]:
        """Ids of carts created, sent an event, or written (audit) in [start, end), sorted."""

    def unsubscribes_between(self, start: datetime, end: datetime) -> int:
        """How many addresses went on the unsubscribe list in [start, end)."""

    def sent_between(self, start: datetime, end: datetime) -> int:
        """How many reminders went out (outcome ``sent``, ``at`` in [start, end)), any cart;
        a send whose address was erased since still counts."""

    # ---- clicks and the owner's reads -------------------------------------------------------
    def record_click(self, cart_id: str, step: int, at: datetime) -> None:
        """Append one click on the return link of reminder ``step`` of ``cart_id``. Every click
        is kept (a repeat is another row); no cart row, timer or audit row changes."""

    def clicks_for(self, cart_ids: Iterable[str]) -> dict[str, list[tuple[int, datetime]]]:
        """The clicks of the given carts: cart id → ``[(step, at), ...]`` ordered by ``at``
        (then step). A cart with no clicks, or unknown, is absent. Any number of ids."""

    def search(self, text: str, limit: int = 50) -> list[Cart]:
        """Carts whose id, address or name contains ``text`` (stripped; compared casefolded),
        at most ``limit``: a cart whose id is exactly ``text`` first, then newest
        ``created_at`` first (ties by cart id). Blank text finds nothing."""

    def events_of(self, cart_id: str) -> list[StoredEvent]:
        """Every event recorded for the cart (applied or not), ordered by ``occurred_at``, then
        when it was received, then event id."""

    def linked_carts(self, email: str) -> list[str]:
        """Ids of the carts linked to an address, sorted: its carts now, and carts with an event
        or a send record naming it (an address changed since still links its cart)."""

    def append_audit(self, entry: AuditEntry) -> None:
        """Append an audit row that goes with no cart write (e.g. an owner's export of a
        shopper's data)."""

    # ---- privacy --------------------------------------------------------------------------
    def forget(self, email: str, *, by: str, at: datetime) -> Forgotten:
        """Erase an address's personal data, atomically. For every cart in
        ``linked_carts(email)``: the cart row loses address, name, items and return URL (its
        version goes up by one), its stored events lose the same fields, its send records
        lose the recipient, and the before/after snapshots of its audit rows lose the same
        fields; statuses, totals, times, steps and outcomes stay. The address goes on the
        unsubscribe list if it was not there (the list keeps only keyed digests of addresses,
        so ``is_unsubscribed`` and ``claim_send`` keep refusing it). One audit row
        ``forgotten`` (by ``by``, anonymous snapshots) per cart."""


@runtime_checkable
class BatchReads(Protocol):
    """A store that reads what a batch of wake-ups needs with a few queries instead of a few per
    cart (optional; the embedded runtime's timer loop uses it). Each answers exactly what the
    one-at-a-time reads would: ``load``, ``is_unsubscribed`` and ``sent_to`` of every item."""

    def load_many(self, cart_ids: Sequence[str]) -> dict[str, tuple[Cart | None, list[SendRecord]]]:
        """``load(cart_id)`` of every id (an unknown id maps to ``(None, [])``)."""

    def unsubscribed_among(self, emails: Iterable[str]) -> set[str]:
        """The given addresses (as given) that ``is_unsubscribed``."""

    def sent_to_many(self, emails: Iterable[str], since: datetime) -> dict[str, list[SendRecord]]:
        """``sent_to(email, since)`` of every address, keyed by ``normalise_email(email)``."""


@runtime_checkable
class BatchWrites(Protocol):
    """A store that writes a chunk of wake-ups' claims and records with one statement each
    (optional; the embedded timer loop uses it). Each answers exactly what the one-at-a-time
    writes would, item by item, and is atomic as a whole."""

    def claim_sends(self, claims: Sequence[tuple[str, int, str]], now: datetime) -> list[Claim]:
        """``claim_send(cart_id, step, recipient, now)`` of every ``(cart_id, step,
        recipient)``, in order."""

    def finish_sent(self, sent: Sequence[tuple[str, int, str]], at: datetime) -> None:
        """``finish_send(cart_id, step, Outcome.SENT, at=at, message_id=message_id)`` of every
        ``(cart_id, step, message_id)``."""

    def set_wakes(self, wakes: Sequence[tuple[str, datetime, int]]) -> list[str]:
        """``set_timer(cart_id, SetWake(due), expected_version=version)`` of every ``(cart_id,
        due, version)``; returns the cart ids refused as stale (their timers untouched)."""


@runtime_checkable
class GroupCommit(Protocol):
    """A store that can make many writes durable with one commit (the embedded runtime's
    webhook batches concurrent requests this way; each still answers only after the commit)."""

    def group(self) -> AbstractContextManager[None]:
        """Inside the block each write is atomic on its own (one that raises is rolled back
        alone); on leaving it, all of them are committed together, or none on an error."""


@dataclass(frozen=True, slots=True)
class EventWrite:
    """One event's writes, as ``CartStore.apply_event`` takes them."""

    event: CartEvent
    cart: Cart | None
    expected_version: int | None
    audit: AuditEntry | None
    timer: TimerChange | None
    now: datetime


@runtime_checkable
class BatchIntake(Protocol):
    """A store that applies a group of cart events with a few statements instead of a few per
    event (optional; the embedded webhook's group commit uses it)."""

    def intake_reads(
        self, keys: Sequence[tuple[str, str]]
    ) -> tuple[dict[str, tuple[Cart, list[SendRecord]]], set[tuple[str, str]]]:
        """For events ``(cart_id, event_id)``: ``load`` of every cart that exists (a cart
        not there has no sends either) and the keys processed before."""

    def apply_events(self, writes: Sequence[EventWrite]) -> None:
        """``apply_event`` of every write, in order, all or none: raises, writing nothing, if
        any event was processed before or any cart is not at its expected version (the
        caller then applies them one at a time)."""


@runtime_checkable
class DeferredSync(Protocol):
    """A group commit that can leave the disk sync to a later call, so that the next group's
    work overlaps the sync (the embedded webhook answers a group only after that call)."""

    def group(self, *, sync: bool = True) -> AbstractContextManager[None]:
        """``GroupCommit.group``; with ``sync=False`` the commit is atomic and visible but not
        yet durable: nothing in it may be answered for before ``sync()`` returns."""

    def sync(self) -> None:
        """Make every group committed before this call durable."""


class AlertLog(Protocol):
    """The owner's alerts (``domain.alerts.Alert``), kept so that a restart neither repeats
    nor forgets one. Safe to call from several threads."""

    def record_alert(self, alert: Alert, *, unless_since: datetime) -> Alert | None:
        """Atomically: unless an alert of ``alert.kind`` was recorded after ``unless_since``
        (an alert exactly at it holds nothing back), keep ``alert`` and return it with its
        ``id`` (ids grow); else None, nothing written."""

    def last_alert(self, kind: str) -> Alert | None:
        """The newest alert of ``kind`` (dismissed or not), or None."""

    def recent_alerts(self, since: datetime) -> list[Alert]:
        """The alerts not dismissed with ``at`` at or after ``since``, newest first."""

    def dismiss_alert(self, alert_id: int) -> bool:
        """Mark the alert dismissed; False when there is no such alert or it was already."""


class OwnerExists(Exception):
    """An owner with that name (``field`` "name") or email (``field`` "email") is kept already."""

    def __init__(self, field: str) -> None:
        super().__init__(f"an owner with that {field} exists already")
        self.field = field


class OwnerAccounts(Protocol):
    """The owners' logins, their dashboard sessions and the failed logins of the lockout, kept
    so that every process (a restart, each Lambda instance) sees the same. Safe to call from
    several threads; what one call writes, the next call of any process reads."""

    def add_owner(self, account: OwnerAccount) -> None:
        """Keep a new owner; OwnerExists (nothing written) when its name (case-insensitive) or
        email is taken, or its ``token_hash`` is another's."""

    def owners(self) -> list[OwnerAccount]:
        """Every owner, by name."""

    def owner_named(self, name: str) -> OwnerAccount | None:
        """The owner whose name is ``name``, case-insensitively."""

    def owner_by_email(self, email: str) -> OwnerAccount | None:
        """The owner whose (normalised) email is ``email``."""

    def owner_by_token(self, token_hash: str) -> OwnerAccount | None:
        """The owner whose personal token hashes to ``token_hash``."""

    def remove_owner(self, name: str) -> bool:
        """Forget the owner and, at once, every session of theirs; False when there is none."""

    def record_login(self, name: str, at: datetime) -> None:
        """The owner's last login is ``at``."""

    def note_failed_login(self, key: str, at: datetime) -> None:
        """One failed login for ``key`` (a client address or an account, as the caller names
        them; failures older than the lockout's window may be forgotten)."""

    def failed_logins(self, key: str, since: datetime) -> int:
        """How many failed logins ``key`` had after ``since``."""

    def create_session(self, session: OwnerSession) -> None:
        """Keep a new session (its id is random; only its hash is given)."""

    def find_session(self, id_hash: str, now: datetime) -> OwnerSession | None:
        """The session, unless it expired (``expires`` at or before ``now``) or was revoked
        (``revoke_session``, ``revoke_sessions`` of its owner, ``remove_owner``)."""

    def revoke_session(self, id_hash: str) -> None:
        """End one session (nothing when there is none)."""

    def revoke_sessions(self, owner: str) -> None:
        """End every session of ``owner`` (the unnamed one's too), at once."""


class WakeQueue(Protocol):
    """Due wake-ups, for a runtime that fires its own timers (the embedded one).

    At most one timer per cart. A fired timer stays until the service's write for that cart
    replaces or cancels it, so a crash re-fires it (the service makes a second firing harmless).
    """

    def due(self, now: datetime, limit: int) -> list[Timer]:
        """Timers with ``due <= now``, ordered by (due, cart_id), at most ``limit``."""

    def next_due(self) -> datetime | None: ...

    def pending(self) -> int: ...


class MailError(Exception):
    """The one mail error: a message was not accepted by the next hop (every mailer wraps its
    own failures in it, and the service retries later).

    ``code`` is the SMTP reply code when the server gave one (e.g. 535, 550), else ``None``.
    ``refused``: the server refused this recipient for good (a 5xx reply to RCPT TO or to
    DATA), which counts as a hard bounce; every other failure is worth another try.
    The text never contains a password.
    """

    def __init__(self, message: str, *, code: int | None = None, refused: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.refused = refused


class Mailer(Protocol):
    def send(self, message: EmailMessage | OutgoingEmail) -> None:
        """Deliver one message: a composed reminder, which the mailer writes as MIME bytes with
        its envelope, or an ``EmailMessage`` with From, To and Message-ID set. Raises MailError
        on failure; returning means the next hop accepted it."""


@dataclass(frozen=True)
class MailCopy:
    """A kept copy of a sent message: the name it is kept under, and the message."""

    name: str
    message: EmailMessage


@runtime_checkable
class KeepsCopies(Protocol):
    """A mailer that keeps a copy of every message it delivers (the outbox folder). Optional:
    the owner's cart page shows a reminder's copy, and forgetting a shopper erases theirs."""

    def find_copy(self, message_id: str) -> MailCopy | None:
        """The kept copy of the message with this Message-ID, or None."""

    def erase_copies(self, message_ids: Iterable[str]) -> int:
        """Delete the kept copies of these messages; returns how many went."""


@runtime_checkable
class Closable(Protocol):
    """An adapter that holds something (a connection, a client) until ``close`` (optional)."""

    def close(self) -> None: ...


class LinkMaker(Protocol):
    """The signed links of a reminder and of the owner's action links."""

    def for_step(self, cart_id: str, step: int, email: str) -> Links:
        """The return and unsubscribe links of reminder ``step`` of ``cart_id`` to ``email``."""

    def action_url(self, action: str, target: str, owner: str = ...) -> str:
        """A signed, expiring owner action link (``suppress``, ``write_off``, ``unsubscribe``)
        for ``owner`` (default: the unnamed owner), whose name the audit gives its action."""


class BadToken(ValueError):
    """A link token that was not made by this service (or was altered, or has expired)."""


@dataclass(frozen=True)
class UnsubscribeLink:
    """What an unsubscribe token names: the address's keyed digest (``EmailKey``) and the cart
    the email was about; or, in a token minted before those, the normalised ``email`` itself."""

    digest: str = ""
    cart_id: str = ""
    email: str | None = None


class LinkTokens(Protocol):
    """Reads the signed tokens of the public links (raises BadToken for anything else)."""

    def read_unsubscribe_link(self, token: str) -> UnsubscribeLink:
        """What an unsubscribe token names (either kind)."""

    def read_return_link(self, token: str) -> tuple[str, int]:
        """The ``(cart_id, step)`` a return link was made for."""

    def read_action(
        self, token: str, *, max_age: int = ..., now: float | None = None
    ) -> tuple[str, str]:
        """``(action, target)`` of an owner action link; BadToken when forged, altered or
        older than ``max_age`` seconds (``now``: Unix seconds)."""

    def read_owner_action(
        self, token: str, *, max_age: int = ..., now: float | None = None
    ) -> tuple[str, str, str]:
        """``(action, target, owner)`` as ``read_action``: the owner the link was minted for
        (``"owner"``, the unnamed one, for a link that names none)."""


class LineWriter(Protocol):
    """Polishes the one line an LLM may touch. Never raises: ``None`` means keep ``plain``.

    Adapters validate what comes back (one sentence, a length cap, no links, no prices or
    numbers that are not in the input, no quotes or markup) and fall back to ``None``, logging
    the reason, on any failure or timeout. A call returns within the adapter's timeout.
    """

    def opening_line(
        self,
        *,
        plain: str,
        items: Sequence[str],
        saved_link: bool,
        store_name: str = "",
        step: int = 1,
        quantities: Sequence[int] = (),
    ) -> str | None:
        """A one-sentence opening line for a reminder, or None to keep ``plain``.

        ``items`` are the cart's titles and ``quantities`` their quantities (the only numbers,
        with those already in the titles, the store name and ``plain``, a line may contain);
        ``step`` is the reminder (1 or 2)."""

    def summary_paragraph(self, *, plain: str, figures: Mapping[str, object]) -> str | None:
        """A short paragraph for the owner's monthly summary, or None to keep ``plain``."""


class PlainLines:
    """The null LineWriter: never asks anyone, so every reminder keeps the owner's own plain
    opening line (the service's default)."""

    def opening_line(
        self,
        *,
        plain: str,
        items: Sequence[str],
        saved_link: bool,
        store_name: str = "",
        step: int = 1,
        quantities: Sequence[int] = (),
    ) -> str | None:
        return None

    def summary_paragraph(self, *, plain: str, figures: Mapping[str, object]) -> str | None:
        return None


class DocSource(Protocol):
    """The owner's rules and voice docs. A bad edit never replaces the last good version."""

    def rules(self) -> Rules: ...

    def voice(self) -> Voice: ...


class DocFile(Protocol):
    """One doc file the owner edits: where it is, and why its last edit was rejected (None:
    it was not)."""

    @property
    def path(self) -> Path: ...

    @property
    def last_error(self) -> str | None: ...


@runtime_checkable
class DocFiles(Protocol):
    """A DocSource kept in files the owner edits (optional; the dashboard's docs page shows
    them, their text and their problems)."""

    @property
    def rules_doc(self) -> DocFile: ...

    @property
    def voice_doc(self) -> DocFile: ...


@dataclass(frozen=True)
class DocVersion:
    """One kept version of an owner's doc (``rules`` or ``voice``). ``source``: ``dashboard``,
    ``restore`` or ``disk`` (a hand edit of the file, ``by`` "edited on disk")."""

    doc: str
    version: str  # sorts in the order the versions were written
    text: str
    by: str
    at: datetime
    note: str = ""
    source: str = "dashboard"


class StaleDoc(Exception):
    """A save made from ``base`` while the doc is at ``current`` now: nothing was written, and
    ``text`` (the refused one) is handed back to its author intact."""

    def __init__(self, doc: str, base: str | None, current: DocVersion, text: str) -> None:
        self.doc, self.base, self.current, self.text = doc, base, current, text
        super().__init__(
            f"{doc} changed since you opened it (now version {current.version}, by "
            f"{current.by}): your text was not saved; it is kept for you to merge and save again"
        )


@runtime_checkable
class DocHistory(Protocol):
    """A DocSource that keeps every version of each doc (optional; the owner edits through it).
    Nothing is rewritten in place; the next read of the doc serves a saved version."""

    def versions(self, doc: str) -> list[DocVersion]:
        """Every version of ``doc``, newest first (the first is the current one)."""

    def save(
        self,
        doc: str,
        text: str,
        *,
        base: str | None,
        by: str,
        at: datetime,
        note: str = "",
        source: str = "dashboard",
    ) -> DocVersion:
        """Write ``text`` as a new version on top of ``base`` (None: the doc has none yet).
        Atomic with its check: raises StaleDoc, writing nothing, when ``base`` is not current."""


@dataclass(frozen=True)
class DriveDoc:
    """A Google Doc's head as Drive describes it: its revision, when and by whom it changed."""

    file_id: str
    revision: str  # the head revision (Drive's headRevisionId, else its version number)
    modified_at: datetime | None
    by: str  # the last modifying user's display name ("" when Drive does not say)
    link: str  # the Doc's web view link


class DriveError(Exception):
    """A Drive call failed; the message names the Doc and the HTTP status, never a key."""


class DocsDrive(Protocol):
    """The Google Docs the owner writes the rules and voice in, read through Drive."""

    def head(self, file_id: str) -> DriveDoc:
        """One metadata call: the Doc's head revision. Raises DriveError."""

    def export_text(self, file_id: str) -> str:
        """The Doc as plain text (no BOM, ``\\n`` line ends). Raises DriveError."""


class Exporter(Protocol):
    def write(self, day: date, rows: Sequence[Row]) -> list[str]:
        """Publish one day's rows; returns where they went (paths or URLs). Idempotent: a
        second export of the same day replaces the first."""


class Clock(Protocol):
    """The runtime's only source of ``now`` (the core never reads one)."""

    def now(self) -> datetime: ...


@runtime_checkable
class FastClock(Protocol):
    """A clock that runs ``speed`` times faster than real time (optional; a runtime divides
    the real seconds it sleeps by it)."""

    @property
    def speed(self) -> float: ...


class TimerSink(Protocol):
    """Where a store whose timers live outside it applies them (idempotent both ways)."""

    def ensure(self, cart_id: str, timer: Timer, name: str, *, replacing: bool = False) -> None:
        """Make sure schedule ``name`` exists and fires ``timer`` for ``cart_id`` (and nothing
        else: ensuring a schedule that exists replaces what it fires). ``replacing`` is a hint
        that ``name`` was made before, so changing it in place is tried first."""

    def remove(self, name: str) -> None:
        """Delete schedule ``name``; one that does not exist is fine."""


# ---- storefront sources ---------------------------------------------------------------------
MAX_BODY = 256 * 1024  # the largest request body any source accepts


class RequestError(Exception):
    """A refused request: HTTP ``status``, a machine ``code``, the ``field`` at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status = status
        self.code = code
        self.field = field
        super().__init__(message)

    def body(self) -> dict[str, str]:
        out = {"error": self.code, "message": str(self)}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class Parsed:
    """What a delivery means: the cart events to ingest (maybe none), and why there are none."""

    events: tuple[CartEvent, ...] = ()
    ignored: str | None = field(default=None)  # e.g. "topic products/update is not used"


class Source(Protocol):
    """One storefront source. Both methods are pure (time comes in as ``now``) and raise only
    RequestError: 401 for a bad or missing signature, 400 (naming the field) for bad input."""

    @property
    def name(self) -> str:
        """The source's name: ``generic``, ``shopify``, ``standard``."""

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raises RequestError(401) unless a configured secret signed ``body`` (in constant
        time, every configured secret tried: two are accepted during a rotation)."""

    def parse(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Parsed:
        """The cart events in an already verified delivery."""


@dataclass(frozen=True)
class Reported:
    """What one mail provider's delivery reports: the bounces and complaints in it (maybe
    none), and why there are none (deliveries, opens, a confirmed subscription, ...)."""

    feedback: tuple[MailFeedback, ...] = ()
    ignored: str | None = None


class MailEvents(Protocol):
    """One mail provider's bounce and complaint webhook. ``verify`` then ``read``, both
    raising only RequestError: 401 for a bad, missing or stale signature, 400 (naming the
    field) for bad input. They may block (a certificate fetched, a subscription confirmed):
    callers run them off the event loop."""

    @property
    def name(self) -> str:
        """The provider's name: ``ses``, ``postmark``, ``sendgrid``, ``mailgun``."""

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raises RequestError(401) unless the provider sent ``body`` (checked on the raw
        bytes, or on what they carry, in constant time where a secret is compared)."""

    def read(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Reported:
        """The feedback in an already verified delivery (and anything the provider asks to be
        done for it, such as confirming a subscription)."""


__all__ = [
    "MAX_BODY",
    "AlertLog",
    "BadToken",
    "BatchIntake",
    "BatchReads",
    "BatchWrites",
    "CartStore",
    "Claim",
    "Clock",
    "Closable",
    "DeferredSync",
    "DocFile",
    "DocFiles",
    "DocHistory",
    "DocSource",
    "DocVersion",
    "DocsDrive",
    "DriveDoc",
    "DriveError",
    "EventWrite",
    "Exporter",
    "FastClock",
    "GroupCommit",
    "KeepsCopies",
    "LineWriter",
    "LinkMaker",
    "LinkTokens",
    "MailCopy",
    "MailError",
    "MailEvents",
    "Mailer",
    "Parsed",
    "PlainLines",
    "Reported",
    "RequestError",
    "Source",
    "StaleCart",
    "StaleDoc",
    "StoredEvent",
    "Suppression",
    "TimerSink",
    "UnsubscribeLink",
    "WakeQueue",
]
