"""The voice doc: what the reminder emails say (SPEC §5), parsed into ``Voice``.

The owner edits plain text: a few settings (``Store name: …``), then one section per reminder
(``[First reminder]``, ``[Second reminder]``), each with a ``Subject:``, an ``Opening:``, a
``Saved opening:`` (for carts started from a saved link) and a ``Body:`` that runs to the next
section. Placeholders are written ``{{ name }}``; the wording around them is the owner's.

Every template is compiled and test-rendered in a Jinja2 sandbox while the doc is parsed, so a bad
edit (an unknown placeholder, an unclosed ``{% if %}``, a reach for ``__class__``) is an error
naming its line, never a broken email. As with the rules doc, the parser never guesses.

``model`` holds the values, ``parser`` reads the doc, ``check`` checks one template, ``sandbox``
compiles and renders, ``lines`` renders the fixed one-line templates.
"""

from __future__ import annotations

from cart_recovery.domain.voice.lines import fixed_line, one_line, plain_opening
from cart_recovery.domain.voice.model import (
    BODY_NEEDS,
    DEFAULT_BUTTON,
    DEFAULT_FOOTER,
    DEFAULT_GREETING,
    DEFAULT_GREETING_NO_NAME,
    DEFAULT_UNSUBSCRIBE,
    DEFAULT_VOICE_TEXT,
    PLACEHOLDERS,
    STEPS,
    StepVoice,
    Voice,
    VoiceError,
)
from cart_recovery.domain.voice.parser import parse_voice
from cart_recovery.domain.voice.sandbox import render_html, render_text

__all__ = [
    "BODY_NEEDS",
    "DEFAULT_BUTTON",
    "DEFAULT_FOOTER",
    "DEFAULT_GREETING",
    "DEFAULT_GREETING_NO_NAME",
    "DEFAULT_UNSUBSCRIBE",
    "DEFAULT_VOICE_TEXT",
    "PLACEHOLDERS",
    "STEPS",
    "StepVoice",
    "Voice",
    "VoiceError",
    "fixed_line",
    "one_line",
    "parse_voice",
    "plain_opening",
    "render_html",
    "render_text",
]
