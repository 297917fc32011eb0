"""One-line text: the owner's fixed lines rendered (and remembered), and any value made safe for
a header or a greeting."""

from __future__ import annotations

import functools
import unicodedata

from cart_recovery.domain.voice.model import Voice
from cart_recovery.domain.voice.sandbox import render_text


def plain_opening(voice: Voice, step: int, saved_link: bool) -> str:
    """The owner's opening line for ``step``, as sent when no polished line is supplied."""
    templates = voice.step(step)
    source = templates.saved_opening if saved_link else templates.opening
    return fixed_line(source, voice.store_name)


def fixed_line(source: str, store_name: str, first_name: str | None = None) -> str:
    """A one-line template that depends only on the store's name (and the first name): an
    opening, the greeting, the button, the footer. Rendered once per value and remembered,
    unless it draws at random (a line that may differ each time is never remembered)."""
    if "random" in source:
        return _render_line(source, store_name, first_name)
    return _remembered_line(source, store_name, first_name)


def _render_line(source: str, store_name: str, first_name: str | None) -> str:
    values: dict[str, object] = {"store_name": store_name}
    if first_name is not None:
        values["first_name"] = first_name
    return one_line(render_text(source, values))


_remembered_line = functools.lru_cache(maxsize=4096)(_render_line)


_ASCII_CONTROLS = {code: " " for code in (*range(0x20), 0x7F)}


def one_line(value: str) -> str:
    """``value`` on one line: control characters and line breaks become spaces, runs of
    whitespace collapse to one space, lone surrogates go. Safe for a header or a greeting."""
    if value.isascii():  # the usual case: ASCII's control characters are its only Cc
        if value.isprintable() and "  " not in value and value.strip(" ") == value:
            return value  # one line already
        return " ".join(value.translate(_ASCII_CONTROLS).split())
    kept = []
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cs":
            continue
        kept.append(" " if category in ("Cc", "Zl", "Zp") else ch)
    return " ".join("".join(kept).split())
