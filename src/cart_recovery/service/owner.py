"""Stops and owner actions: the shopper's unsubscribe and return link, and what the owner does
from the dashboard, the signed action links and the CLI. Each is audited."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from cart_recovery.domain.address import AddressError, recipient_address
from cart_recovery.domain.model import AuditEntry, Cart, CartEvent, CloseReason, SendRecord, Status
from cart_recovery.domain.privacy import Forgotten, shopper_export
from cart_recovery.ports import CartStore, KeepsCopies, Mailer, UnsubscribeLink
from cart_recovery.service.alerts import AlertMonitor
from cart_recovery.service.happenings import Closed
from cart_recovery.service.retry import retrying

log = logging.getLogger("cart_recovery.service")


class ActionRefused(ValueError):
    """An owner action that cannot be done. ``code``: ``not_found``, ``not_open`` or
    ``bad_address``; the message tells the owner why. Nothing was changed."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def check_address(email: str) -> str:
    """The address an owner typed, stripped; ActionRefused when it is not one."""
    address = email.strip()
    try:
        recipient_address(address)
    except AddressError:
        raise ActionRefused("bad_address", f"{address[:80]!r} is not an email address") from None
    return address


class OwnerActions:
    """The stops and owner actions of ``Service`` (see ``service.core``)."""

    store: CartStore
    mailer: Mailer
    alerts: AlertMonitor | None

    def _close(
        self, cart: Cart, reason: CloseReason, now: datetime, by: str, detail: str | None = None
    ) -> Closed:
        raise NotImplementedError

    def _reschedule(self, cart_id: str) -> None:
        raise NotImplementedError

    # ---- stops ----------------------------------------------------------------------------
    def unsubscribe(self, email: str, now: datetime, *, source: str = "shopper") -> bool:
        """The one unsubscribe handler: footer link, RFC 8058 one-click, and the owner."""
        return self.store.unsubscribe(email, source=source, at=now)

    def unsubscribe_cart(self, cart_id: str, now: datetime, *, source: str = "owner") -> bool:
        """The owner's action link "Unsubscribe" of an export row: the address of that cart
        (the link names the cart, never the address). ActionRefused when the cart is unknown
        or keeps no address."""
        cart, _sends = self.store.load(cart_id)
        if cart is None or not cart.email:
            raise ActionRefused("not_found", f"cart {cart_id} has no address to unsubscribe")
        return self.unsubscribe(cart.email, now, source=source)

    def unsubscribe_link(
        self, link: UnsubscribeLink, now: datetime, *, source: str = "shopper"
    ) -> bool:
        """The footer link and its one-click POST: a link names its address by keyed digest
        and the cart the email was about (a link of the first kind, by the address itself)."""
        if link.email is not None:
            return self.unsubscribe(link.email, now, source=source)
        cart, _sends = self.store.load(link.cart_id)
        email = cart.email if cart is not None else None
        return self.store.unsubscribe_key(link.digest, source=source, at=now, email=email)

    def follow_return_link(self, cart_id: str, step: int, now: datetime) -> str | None:
        """A shopper clicked the return link of reminder ``step``: record the click and give
        the cart's stored return URL (None: no such cart, or it has none)."""
        cart, _sends = self.store.load(cart_id)
        if cart is None:
            return None
        self.store.record_click(cart_id, step, now)
        return cart.return_url

    # ---- owner actions ----------------------------------------------------------------------
    def suppress(
        self, cart_id: str, now: datetime, *, by: str = "owner", via: str | None = None
    ) -> Closed:
        """Stop one cart: closed (reason ``suppressed``), its wake-up cancelled, audited.
        ActionRefused when the cart is unknown or no longer open."""
        return self._owner_close(cart_id, CloseReason.SUPPRESSED, now, by, via)

    def write_off(
        self, cart_id: str, now: datetime, *, by: str = "owner", via: str | None = None
    ) -> Closed:
        """One cart closed as ``written_off`` (counted apart in the summary), audited."""
        return self._owner_close(cart_id, CloseReason.WRITTEN_OFF, now, by, via)

    def _owner_close(
        self, cart_id: str, reason: CloseReason, now: datetime, by: str, via: str | None
    ) -> Closed:
        verb = "suppress" if reason is CloseReason.SUPPRESSED else "write off"

        def once() -> Closed:
            cart, _sends = self.store.load(cart_id)
            if cart is None:
                raise ActionRefused("not_found", f"there is no cart {cart_id!r}")
            if not cart.is_open:
                state = "bought" if cart.status is Status.BOUGHT else "closed"
                if cart.close_reason is not None:
                    state += f" ({cart.close_reason.replace('_', ' ')})"
                raise ActionRefused(
                    "not_open", f"cart {cart_id} is {state} already: nothing to {verb}"
                )
            return self._close(cart, reason, now, by=by, detail=via)

        return retrying(once, f"cart {cart_id} kept changing during {verb}")

    def forget(self, email: str, now: datetime, *, by: str = "owner") -> Forgotten:
        """Erase a shopper's personal data (SPEC §9) and keep them unsubscribed through a keyed
        digest of the address. A mailer that keeps copies (the outbox) erases theirs too."""
        address = check_address(email)
        forgotten = self.store.forget(address, by=by, at=now)
        if isinstance(self.mailer, KeepsCopies):
            self.mailer.erase_copies(forgotten.message_ids)
        return forgotten

    def export_shopper(
        self, email: str, now: datetime, *, by: str = "owner", via: str | None = None
    ) -> dict[str, Any]:
        """Everything kept about a shopper, JSON-ready; each of their carts gets an audit row."""
        address = check_address(email)
        ids = self.store.linked_carts(address)
        carts: list[tuple[str, Cart | None]] = []
        sends: dict[str, list[SendRecord]] = {}
        events: dict[str, list[tuple[CartEvent, datetime]]] = {}
        audit: dict[str, list[AuditEntry]] = {}
        for cart_id in ids:
            cart, records = self.store.load(cart_id)
            carts.append((cart_id, cart))
            sends[cart_id] = records
            events[cart_id] = [(e.event, e.received_at) for e in self.store.events_of(cart_id)]
            audit[cart_id] = self.store.audit(cart_id)
        suppression = self.store.suppression(address)
        data = shopper_export(
            address,
            unsubscribed=suppression is not None,
            suppression=suppression,
            carts=carts,
            events=events,
            sends=sends,
            clicks=self.store.clicks_for(ids),
            audit=audit,
            now=now,
        )
        for cart_id in ids:
            self.store.append_audit(
                AuditEntry(
                    cart_id=cart_id,
                    at=now,
                    by=by,
                    action="exported",
                    detail="the shopper's data was exported" + (f" ({via})" if via else ""),
                )
            )
        return data

    def recover(self, now: datetime) -> list[SendRecord]:
        """At start-up: a claim left by a crash becomes ``uncertain`` (never resent); the
        owner's ``uncertain_steps`` alert names them."""
        resolved = self.store.resolve_claims(now)
        for record in resolved:
            self._reschedule(record.cart_id)
        if resolved and self.alerts is not None:
            try:
                self.alerts.uncertain(resolved, now)
            except Exception:  # the start-up goes on; the log has it
                log.exception("the uncertain_steps alert could not be raised")
        return resolved
