"""Email addresses: the one form they are compared in, and whether one can be mailed.

Every place that compares, keys or checks an address (the gates, the stores, the unsubscribe
list, the link tokens, intake) calls these two functions.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    rf"@{_LABEL}(?:\.{_LABEL})*"
)


class AddressError(ValueError):
    """An address that cannot be mailed; the message says why (never the address itself)."""


def normalise_email(email: str) -> str:
    """The form addresses are compared in: stripped and casefolded."""
    return email.strip().casefold()


def recipient_address(address: str | None) -> str:
    """The plain addr-spec of ``address``, or AddressError saying why it can't be mailed."""
    if address is None or not address.strip():
        raise AddressError("the cart has no email address")
    address = address.strip()
    if not address.isascii():
        raise AddressError("the address needs SMTPUTF8, which is not supported")
    if _PLAIN_ADDRESS.fullmatch(address):
        return address
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise AddressError(f"not a single email address: {exc}") from None
    if not parsed.username or not DOMAIN.fullmatch(parsed.domain):
        raise AddressError("not a single email address")
    return parsed.addr_spec
