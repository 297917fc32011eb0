"""The voice doc's values: the two reminders' templates and the settings around them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cart_recovery.domain.rules import Problem

STEPS = (1, 2)

# What a subject or a body may use. ``items`` is a ready-made block: a list (text), a table (HTML).
PLACEHOLDERS = (
    "greeting",
    "opening",
    "items",
    "total",
    "return_link",
    "unsubscribe_link",
    "store_name",
    "first_name",
)
BODY_NEEDS = ("items", "total", "return_link")  # SPEC §7: every email shows these

DEFAULT_GREETING = "Hi {{ first_name }},"
DEFAULT_GREETING_NO_NAME = "Hi there,"
DEFAULT_BUTTON = "Return to your cart"
DEFAULT_UNSUBSCRIBE = "Unsubscribe"
DEFAULT_FOOTER = "You're getting this because you left items in your cart at {{ store_name }}."

DEFAULT_VOICE_TEXT = """\
# The voice doc: what the reminder emails say. Change the words freely.
# Lines starting with # are notes for you and never appear in an email.
#
# Placeholders go in double curly braces. A Subject or Body can use:
#   {{ greeting }}  {{ opening }}  {{ items }}  {{ total }}  {{ return_link }}
#   {{ unsubscribe_link }}  {{ store_name }}  {{ first_name }}
# {{ first_name }} is empty when we don't know the name: {{ first_name or "friend" }} helps.
# Every Body must show {{ items }}, {{ total }} and {{ return_link }}. An unsubscribe link is
# always added at the foot of every email, whatever the Body says.
# A Body runs to the next [section]; blank lines separate its paragraphs.

Store name: Linen & Light
Greeting: Hi {{ first_name }},
Greeting without a name: Hi there,
Button: Return to your cart
Unsubscribe link: Unsubscribe
Footer: You're getting this because you left items in your cart at {{ store_name }}.

[First reminder]
Subject: Your cart is still here, {{ first_name or "friend" }}
Opening: Still thinking it over? Your cart's still here.
Saved opening: Still saving these? They're right where you left them.
Body:
{{ greeting }}

{{ opening }}

{{ items }}

Total: {{ total }}

{{ return_link }}

Thanks for shopping with {{ store_name }}.

[Second reminder]
Subject: We saved your cart for you, {{ first_name or "friend" }}
Opening: Last nudge — we saved your cart in case you still want it.
Saved opening: Still saving these? We're keeping them safe for whenever you're ready.
Body:
{{ greeting }}

{{ opening }}

{{ items }}

Total: {{ total }}

{{ return_link }}

No rush at all. This is our last note about this cart.

Warmly,
{{ store_name }}
"""


@dataclass(frozen=True)
class StepVoice:
    """One reminder's templates (Jinja2 source, as the owner wrote them)."""

    subject: str
    opening: str
    saved_opening: str
    body: str


@dataclass(frozen=True)
class Voice:
    """The parsed voice doc. ``steps`` maps 1 and 2 to their templates."""

    store_name: str
    steps: Mapping[int, StepVoice]
    greeting: str = DEFAULT_GREETING
    greeting_no_name: str = DEFAULT_GREETING_NO_NAME
    button: str = DEFAULT_BUTTON
    unsubscribe: str = DEFAULT_UNSUBSCRIBE
    footer: str = DEFAULT_FOOTER

    def step(self, step: int) -> StepVoice:
        try:
            return self.steps[step]
        except KeyError:
            raise ValueError(f"the voice doc has no template for reminder {step}") from None


class VoiceError(ValueError):
    """The doc could not be read. ``problems`` lists every bad line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))
