"""Signed tokens for the links in emails: unsubscribe (per address) and return (per cart, step).

Signed with itsdangerous under the service's signing key, each kind with its own salt, so a token
of one kind is never accepted as another and nobody can make one for someone else's address.
An unsubscribe token names the address only by its keyed digest (``EmailKey``, the one the
unsubscribe list keeps) and the cart the email was about: no link carries an address in any
encoding. Tokens of the first kind (the normalised address inside) are still read.
An owner action link names the owner it was minted for (the audit credits them); one minted
before owners had names (or for the unnamed owner) has none and acts as ``owner``.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from cart_recovery.domain.address import normalise_email
from cart_recovery.domain.compose import Links
from cart_recovery.domain.owners import UNNAMED
from cart_recovery.domain.privacy import DIGEST_PREFIX, EmailKey
from cart_recovery.ports import BadToken as BadToken
from cart_recovery.ports import UnsubscribeLink

# "unsubscribe": by address, in links minted before "unsubscribe_cart" (the address of a cart,
# named by its id: a link carries no address); read for as long as such links live.
OWNER_ACTIONS = ("suppress", "unsubscribe", "unsubscribe_cart", "write_off")
ACTION_LINK_MAX_AGE = 14 * 86400  # an owner action link in an export works for two weeks


class Tokens:
    def __init__(self, secret: str, email_key: EmailKey | None = None) -> None:
        """``email_key``: the unsubscribe list's key (default: the one derived from ``secret``,
        as both runtimes key their stores)."""
        if len(secret) < 16:
            raise ValueError("the signing key must be at least 16 characters")
        self._email_key = email_key or EmailKey.from_signing_key(secret)
        self._unsub = URLSafeSerializer(secret, salt="cart-recovery.unsubscribe")
        self._unsub2 = URLSafeSerializer(secret, salt="cart-recovery.unsubscribe.v2")
        self._unsub2_key = _keyed(self._unsub2.make_signer().derive_key())
        self._ret = URLSafeSerializer(secret, salt="cart-recovery.return")
        self._unsub_key = _keyed(self._unsub.make_signer().derive_key())
        self._ret_key = _keyed(self._ret.make_signer().derive_key())
        self._action = URLSafeTimedSerializer(secret, salt="cart-recovery.owner-action")

    def action(self, action: str, target: str, owner: str = UNNAMED) -> str:
        """A signed, expiring owner action for ``owner``: ``target`` is a cart id (an address
        only for the older ``unsubscribe``). The unnamed owner's keeps the first form,
        ``[action, target]``; a named owner's adds the name."""
        if action not in OWNER_ACTIONS:
            raise ValueError(f"unknown owner action {action!r}")
        value = [action, target] if owner == UNNAMED else [action, target, owner]
        return str(self._action.dumps(value))

    def read_action(
        self, token: str, *, max_age: int = ACTION_LINK_MAX_AGE, now: float | None = None
    ) -> tuple[str, str]:
        """``(action, target)``; BadToken when forged, altered or older than ``max_age``
        seconds (``now``: Unix seconds, for a clock other than the system's)."""
        action, target, _ = self.read_owner_action(token, max_age=max_age, now=now)
        return action, target

    def read_owner_action(
        self, token: str, *, max_age: int = ACTION_LINK_MAX_AGE, now: float | None = None
    ) -> tuple[str, str, str]:
        """``(action, target, owner)``: ``owner`` is ``"owner"`` for a link that names none."""
        try:
            if now is None:
                value = self._action.loads(token, max_age=max_age)
            else:
                value, signed_at = self._action.loads(token, return_timestamp=True)
                if now - signed_at.timestamp() > max_age:
                    raise SignatureExpired("expired")
        except SignatureExpired:
            raise BadToken("this action link has expired") from None
        except BadSignature:
            raise BadToken("action link not recognised") from None
        if (
            not isinstance(value, list)
            or len(value) not in (2, 3)
            or value[0] not in OWNER_ACTIONS
            or not all(isinstance(v, str) and v for v in value[1:])
        ):
            raise BadToken("action link not recognised")
        return value[0], value[1], value[2] if len(value) == 3 else UNNAMED

    def unsubscribe(self, email: str) -> str:
        """A token of the first kind, the normalised address inside (no longer put in emails;
        those already sent keep working)."""
        return _mint(self._unsub_key, normalise_email(email))

    def read_unsubscribe(self, token: str) -> str:
        """The address inside a token of the first kind."""
        try:
            value = self._unsub.loads(token)
        except BadSignature:
            raise BadToken("unsubscribe link not recognised") from None
        if not isinstance(value, str):
            raise BadToken("unsubscribe link not recognised")
        return value

    def unsubscribe_key(self, email: str, cart_id: str) -> str:
        """The unsubscribe token of an email to ``email`` about ``cart_id``: the address's
        keyed digest (an HMAC: nobody reverses it) and the cart id, nothing else."""
        digest = self._email_key.digest(email)
        return _mint_json(self._unsub2_key, f"[{_json_string(digest)},{_json_string(cart_id)}]")

    def read_unsubscribe_link(self, token: str) -> UnsubscribeLink:
        """What an unsubscribe token of either kind names."""
        try:
            value = self._unsub2.loads(token)
        except BadSignature:
            return UnsubscribeLink(email=self.read_unsubscribe(token))
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, str) for v in value)
            or not value[0].startswith(DIGEST_PREFIX)
        ):
            raise BadToken("unsubscribe link not recognised")
        return UnsubscribeLink(digest=value[0], cart_id=value[1])

    def return_link(self, cart_id: str, step: int) -> str:
        # the compact JSON of [cart_id, step], written directly (the encoder's list path is slow)
        return _mint_json(self._ret_key, f"[{_json_string(cart_id)},{int(step)}]")

    def read_return_link(self, token: str) -> tuple[str, int]:
        try:
            value = self._ret.loads(token)
        except BadSignature:
            raise BadToken("link not recognised") from None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], str)
            or not isinstance(value[1], int)
        ):
            raise BadToken("link not recognised")
        return value[0], value[1]


def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA1 keyed once, copied for each token: cheaper than keying it per token, and
    (unlike the one-call ``hmac.digest``) it never lets go of the interpreter lock for a few
    dozen bytes, so a token costs no wait for another thread."""
    return hmac.new(key, digestmod=hashlib.sha1)


def _mint(key: hmac.HMAC, value: object) -> str:
    """What ``URLSafeSerializer.dumps`` writes for ``value``, minus its attempt to compress
    (which seldom pays for a few dozen bytes and costs more than the rest of the token): the
    compact JSON, base64url, a dot, the base64url HMAC-SHA1 under the serializer's derived key.
    ``loads`` reads it as it reads its own (tests/unit/test_tokens.py holds them equal)."""
    return _mint_json(key, _compact(value))


def _mint_json(key: hmac.HMAC, compact: str) -> str:
    payload = _urlsafe(compact.encode("utf-8"))
    mac = key.copy()
    mac.update(payload)
    return (payload + b"." + _urlsafe(mac.digest())).decode("ascii")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _urlsafe(data: bytes) -> bytes:
    """itsdangerous's ``base64_encode`` (base64url, no padding) in one C call and a translate,
    without its ``want_bytes`` and ``urlsafe_b64encode`` layers (four times per email)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_json_string = json.JSONEncoder(ensure_ascii=False).encode  # a str alone takes the fast path


@dataclass(frozen=True)
class LinkMaker:
    """Builds the public links of one email from the service's base URL."""

    base_url: str
    tokens: Tokens

    def action_url(self, action: str, target: str, owner: str = UNNAMED) -> str:
        """The link of an owner action, credited to ``owner`` when it is done."""
        return f"{self.base_url.rstrip('/')}/a/{self.tokens.action(action, target, owner)}"

    def for_step(self, cart_id: str, step: int, email: str) -> Links:
        base = self.base_url.rstrip("/")
        return Links(
            return_url=f"{base}/r/{self.tokens.return_link(cart_id, step)}",
            unsubscribe_url=f"{base}/u/{self.tokens.unsubscribe_key(email, cart_id)}",
        )
