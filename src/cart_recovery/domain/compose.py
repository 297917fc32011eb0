"""Compose one reminder email from a cart, a step and the voice doc (SPEC §7, gate 4).

Pure: ``now`` comes in, the message is returned as a value, nothing is sent. The only line the
LLM may supply is ``opening``; items, total, links and the unsubscribe footer are always ours.
Every value that reaches a header is flattened to one line first, so a shopper's name or an item
title can never add a header.
"""

from __future__ import annotations

import email.policy
import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from email.headerregistry import AddressHeader

import msgspec
from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency
from markupsafe import Markup

from cart_recovery.domain.address import DOMAIN, AddressError, recipient_address
from cart_recovery.domain.model import Cart, Item
from cart_recovery.domain.voice import (
    StepVoice,
    Voice,
    fixed_line,
    one_line,
    plain_opening,
    render_html,
    render_text,
)
from cart_recovery.domain.voice.sandbox import escaped

MAX_SUBJECT = 150
FIRST_NAME_MAX = 60
ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058

_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_ITEMS_SLOT = "\x00items\x00"  # where the items table goes in the HTML part
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_BLANK_RUN = re.compile(r"\n{3,}")
_STRAY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_STRAY_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])

Money = Callable[[Decimal], str]


class ComposeError(ValueError):
    """The email cannot be built: no usable address, a bad link or sender, an unknown step."""


class Links(msgspec.Struct, frozen=True, gc=False):
    """The two links the service mints for one email."""

    return_url: str  # the tracked return link, e.g. https://shop.example/r/<token>
    unsubscribe_url: str  # GET shows a confirm page, POST (RFC 8058 one-click) unsubscribes


class OutgoingEmail(msgspec.Struct, frozen=True, gc=False):
    """One composed email, ready for any mailer: its content and headers. Writing it as MIME
    bytes is the mailer's part. (A frozen Struct: made once per reminder, about a tenth of a
    frozen dataclass's cost.)"""

    to: str
    sender: str
    subject: str
    text: str
    html: str
    message_id: str
    date: datetime
    headers: tuple[tuple[str, str], ...]  # List-Unsubscribe, List-Unsubscribe-Post, ...


def message_id_for(cart_id: str, step: int, domain: str) -> str:
    """The Message-ID of ``(cart_id, step)``: the same every time, different for each step."""
    host = _message_id_host(domain)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ComposeError(f"not a reminder step: {step!r}")
    digest = hashlib.sha256(cart_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"<cr.{digest}.{step}@{host}>"


@functools.lru_cache(maxsize=16)
def _message_id_host(domain: str) -> str:
    """``domain`` as Message-IDs end (checked once: it is one configured value)."""
    if not DOMAIN.fullmatch(domain) or len(domain) > 253:
        raise ComposeError(f"not a domain for Message-IDs: {domain!r}")
    return domain.lower()


def compose(
    cart: Cart,
    step: int,
    voice: Voice,
    *,
    sender: str,
    links: Links,
    opening: str | None,
    message_id_domain: str,
    now: datetime,
    default_locale: str = "en_US",
) -> OutgoingEmail:
    """Fill ``voice``'s template for ``step`` with ``cart``.

    ``opening`` is the polished opening line, or ``None`` for the owner's plain one (the
    saved-link variant for a saved-link cart). Raises ``ComposeError`` when the cart has no usable
    address or an argument is unusable; template errors were caught when the doc was parsed.
    """
    templates, to, from_, return_url, unsubscribe_url = _checked(
        cart, step, voice, sender, links, now
    )
    locale = _locale(cart.locale, default_locale)
    currency = cart.currency
    locale_tag = _tag(locale)

    def money(amount: Decimal) -> str:
        return _money(amount, currency, locale_tag)

    shared = _shared(voice, cart, step, opening, money)
    line = shared["opening"]
    store_name = voice.store_name
    button = fixed_line(voice.button, store_name)
    unsubscribe = fixed_line(voice.unsubscribe, store_name)
    footer = fixed_line(voice.footer, store_name)

    if len(cart.items) <= _ITEMS_REMEMBERED:
        items_text, items_html = _remembered_items(cart.items, currency, locale_tag)
    else:
        items_text, items_html = _items(cart.items, currency, locale_tag)
    text_values = {
        **shared,
        "items": items_text,
        "return_link": return_url,
        "unsubscribe_link": unsubscribe_url,
    }
    subject = _subject(render_text(templates.subject, text_values))
    text = _tidy_text(render_text(templates.body, text_values))
    text += f"\n\n-- \n{footer}\n{unsubscribe}: {unsubscribe_url}\n"

    html_values = {
        **shared,
        "items": _ITEMS_SLOT,
        "return_link": _button(return_url, button),
        "unsubscribe_link": _link_html(unsubscribe_url, _MUTED_LINK, unsubscribe),
    }
    body = _paragraphs(render_html(templates.body, html_values), items_html)
    html = _document(
        locale,
        subject=subject,
        preheader=line,
        body=body,
        footer=footer,
        unsubscribe=unsubscribe,
        unsubscribe_url=unsubscribe_url,
    )

    return OutgoingEmail(
        to=to,
        sender=from_,
        subject=subject,
        text=text,
        html=html,
        message_id=message_id_for(cart.cart_id, step, message_id_domain),
        date=now,
        headers=(
            ("List-Unsubscribe", f"<{unsubscribe_url}>"),
            ("List-Unsubscribe-Post", ONE_CLICK),
        ),
    )


def _checked(
    cart: Cart, step: int, voice: Voice, sender: str, links: Links, now: datetime
) -> tuple[StepVoice, str, str, str, str]:
    """The step's templates, the recipient, the sender and the two links, checked in that
    order (after ``now``): ``ComposeError`` names the first one that is unusable."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ComposeError("now must carry a timezone")
    try:
        templates = voice.step(step)
    except ValueError as exc:
        raise ComposeError(str(exc)) from None
    try:
        to = recipient_address(cart.email)
    except AddressError as exc:
        raise ComposeError(str(exc)) from None
    from_ = _sender(sender)
    return_url = _link(links.return_url, "return link")
    unsubscribe_url = _link(links.unsubscribe_url, "unsubscribe link")
    return templates, to, from_, return_url, unsubscribe_url


def _shared(
    voice: Voice, cart: Cart, step: int, opening: str | None, money: Money
) -> dict[str, str]:
    """The values both parts fill in: the greeting, the opening line (``opening``, or the
    owner's plain one), the total, the store's and the shopper's first name."""
    store_name = voice.store_name
    first_name = _first_name(cart.name)
    greeting = (
        fixed_line(voice.greeting, store_name, first_name)
        if first_name
        else fixed_line(voice.greeting_no_name, store_name)
    )
    line = one_line(opening) if opening is not None else ""
    line = line or plain_opening(voice, step, cart.saved_link)
    return {
        "greeting": greeting,
        "opening": line,
        "total": money(cart.total),
        "store_name": store_name,
        "first_name": first_name,
    }


# --- values ------------------------------------------------------------------------------------

# A plain dot-atom address (RFC 5322 §3.4.1) with a DNS domain: what nearly every shopper has.
# Anything else takes the full parser below; both give the same answer for these.


@functools.lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, locale: str) -> str:
    """``amount`` in ``currency`` as ``locale`` writes it. Pure, so remembered: a store's prices
    repeat, and formatting one takes longer than the rest of a line."""
    return format_currency(amount, currency, locale=locale)


@functools.lru_cache(maxsize=64)
def _sender(sender: str) -> str:
    flat = one_line(sender)
    header = email.policy.SMTP.header_factory("From", flat)
    if (
        flat != sender
        or not isinstance(header, AddressHeader)
        or getattr(header, "defects", None)
        or len(header.addresses) != 1
        or not header.addresses[0].domain
    ):
        raise ComposeError(f"not a single sender address: {sender!r}")
    return flat


def _link(url: str, what: str) -> str:
    if not _URL.fullmatch(url) or len(url) > 2000:
        raise ComposeError(f"the {what} must be a plain http(s) URL: {url!r}")
    return url


@functools.lru_cache(maxsize=256)
def _locale(wanted: str | None, default: str) -> Locale:
    for tag in (wanted, default):
        if not tag:
            continue
        try:
            return Locale.parse(tag.replace("-", "_"))
        except (ValueError, TypeError, UnknownLocaleError):
            continue
    raise ComposeError(f"unknown default locale {default!r}")


@functools.lru_cache(maxsize=256)
def _tag(locale: Locale) -> str:
    return str(locale)


def _first_name(name: str | None) -> str:
    words = one_line(name or "").split(" ")
    return words[0][:FIRST_NAME_MAX]


def _subject(rendered: str) -> str:
    subject = one_line(rendered)
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip() + "…"
    return subject


def _tidy_text(rendered: str) -> str:
    text = "\n".join([line.rstrip() for line in rendered.splitlines()])
    if "\n\n\n" in text:
        text = _BLANK_RUN.sub("\n\n", text)
    return text.strip("\n")


def _items(items: tuple[Item, ...], currency: str, locale: str) -> tuple[str, Markup]:
    """The items as text lines and as the HTML table."""

    def money(amount: Decimal) -> str:
        return _money(amount, currency, locale)

    return _items_text(items, money), _items_html(items, money)


# Pure, so remembered for the usual carts of a few lines: a store's carts hold the same items
# again and again. A long cart (up to 1,000 lines of 500 characters) is never kept.
_ITEMS_REMEMBERED = 8
_remembered_items = functools.lru_cache(maxsize=256)(_items)


def _items_text(items: Sequence[Item], money: Money) -> str:
    lines = []
    for item in items:
        line = f"{item.quantity} × {one_line(item.title)} — {money(item.line_total)}"
        if item.quantity > 1:
            line += f" ({money(item.unit_price)} each)"
        lines.append(line)
    return "\n".join(lines)


# --- HTML --------------------------------------------------------------------------------------


_e = escaped  # a value escaped for HTML, as a plain string


# Constant styles, written into the markup as they are (none holds a character to escape).
_FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_P = "margin:0 0 16px;font-size:16px;line-height:1.5;color:#222222"
_MUTED_LINK = "color:#6b7280;text-decoration:underline"
_BUTTON = (
    "display:inline-block;padding:12px 22px;background:#1f2937;color:#ffffff;"
    "text-decoration:none;border-radius:6px;font-weight:600;font-size:16px"
)
_CELL = "padding:10px 0;border-bottom:1px solid #eeeeee;vertical-align:top;font-size:15px"


def _link_html(url: str, style: str, label: str) -> Markup:
    return Markup(f'<a href="{_e(url)}" style="{style}">{_e(label)}</a>')  # noqa: S704


def _button(url: str, label: str) -> Markup:
    return _link_html(url, _BUTTON, label)


def _image(item: Item) -> str:
    url = item.image_url
    if url is None or not url.startswith("https://") or not _URL.fullmatch(url):
        return ""
    return (
        f'<img src="{_e(url)}" alt="" width="56" height="56" '
        'style="display:block;width:56px;height:56px;object-fit:cover;border-radius:4px;border:0">'
    )


def _items_html(items: Sequence[Item], money: Money) -> Markup:
    if not items:
        return Markup("")
    pictures = [_image(item) for item in items]
    images = any(pictures)
    rows = []
    for item, picture in zip(items, pictures, strict=True):
        cell = f'<td width="68" style="{_CELL};width:68px">{picture}</td>' if images else ""
        each = (
            '<br><span style="color:#6b7280;font-size:14px">'
            f"{item.quantity} × {_e(money(item.unit_price))}</span>"
            if item.quantity > 1
            else ""
        )
        rows.append(
            f'<tr>{cell}<td style="{_CELL};padding-right:12px">{item.quantity} × '
            f"{_e(one_line(item.title))}{each}</td>"
            f'<td align="right" style="{_CELL};white-space:nowrap">{_e(money(item.line_total))}'
            "</td></tr>"
        )
    return Markup(  # noqa: S704 - every value in it is escaped
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;border-collapse:collapse;margin:0 0 16px">' + "".join(rows) + "</table>"
    )


def _paragraphs(rendered: Markup, items_table: Markup) -> Markup:
    """Blank-line-separated blocks become paragraphs; the items table stands on its own."""
    out: list[str] = []
    table = str(items_table)
    for block in _PARAGRAPH_BREAK.split(str(rendered).strip()):
        for index, piece in enumerate(block.split(_ITEMS_SLOT)):
            if index and table:
                out.append(table)
            piece = piece.strip()
            if piece:
                out.append(f'<p style="{_P}">' + "<br>\n".join(piece.splitlines()) + "</p>")
    return Markup(_without_stray_controls("\n".join(out)))  # noqa: S704 - built from escaped parts


def _without_stray_controls(html: str) -> str:
    """``html`` without the control characters of ``_STRAY_CONTROL``. They are rare: looked for
    first in the UTF-8 bytes (no byte of a multi-byte sequence is below 0x80), several times
    faster than the regular expression's scan, which runs only when one is there."""
    raw = html.encode("utf-8", "surrogatepass")
    if len(raw.translate(None, _STRAY_CONTROL_BYTES)) == len(raw):
        return html
    return _STRAY_CONTROL.sub("", html)


def _document(
    locale: Locale,
    *,
    subject: str,
    preheader: str,
    body: Markup,
    footer: str,
    unsubscribe: str,
    unsubscribe_url: str,
) -> str:
    head, middle, end, link, tail = _shell(locale, footer, unsubscribe)
    return (
        head
        + _e(subject)
        + middle
        + _e(preheader)
        + end
        + str(body)
        + link
        + _e(unsubscribe_url)
        + tail
    )


@functools.lru_cache(maxsize=256)
def _shell(locale: Locale, footer: str, unsubscribe: str) -> tuple[str, str, str, str, str]:
    """The document around its four values (subject, preheader, body, unsubscribe link), cut
    where they go: it depends only on the locale and the voice's fixed lines, so it is
    written once per set of them."""
    lang = str(locale).replace("_", "-")
    rtl = locale.text_direction == "rtl"
    return (
        "<!doctype html>\n"
        f'<html lang="{_e(lang)}" dir="{"rtl" if rtl else "ltr"}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="x-apple-disable-message-reformatting">\n'
        "<title>",
        "</title>\n"
        "</head>\n"
        '<body style="margin:0;padding:0;background:#f5f4f0">\n'
        '<div style="display:none;max-height:0;overflow:hidden;opacity:0">',
        "</div>\n"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;background:#f5f4f0">\n'
        '<tr><td align="center" style="padding:24px 12px">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="width:100%;max-width:560px;background:#ffffff;border-radius:8px">\n'
        f'<tr><td style="padding:28px 24px;{_FONT};color:#222222">\n',
        "\n"
        "</td></tr>\n"
        "</table>\n"
        f'<p style="margin:16px 0 0;max-width:560px;{_FONT};font-size:12px;line-height:1.5;'
        f'color:#6b7280">{_e(footer)} '
        '<a href="',
        f'" style="{_MUTED_LINK}">{_e(unsubscribe)}</a>'
        "</p>\n"
        "</td></tr>\n"
        "</table>\n"
        "</body>\n"
        "</html>\n",
    )
