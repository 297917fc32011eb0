"""The rules doc: the owner's plain-prose timing rules (SPEC §4), parsed into ``Rules``.

A line the parser cannot read is an error naming its line number and its text; it never guesses.

``model`` holds the values (and a cart's waits), ``parser`` reads the doc, ``tiers`` checks the
size tiers together, ``zones`` looks timezones up, ``describe`` summarises parsed rules.
"""

from __future__ import annotations

from cart_recovery.domain.rules.describe import describe_rules
from cart_recovery.domain.rules.model import (
    DEFAULT_RULES_TEXT,
    MAX_REMINDERS,
    Problem,
    QuietHours,
    Rules,
    RulesError,
    SizeTier,
    parse_wait_override,
    waits_for,
)
from cart_recovery.domain.rules.parser import parse_rules
from cart_recovery.domain.rules.zones import zone_named

__all__ = [
    "DEFAULT_RULES_TEXT",
    "MAX_REMINDERS",
    "Problem",
    "QuietHours",
    "Rules",
    "RulesError",
    "SizeTier",
    "describe_rules",
    "parse_rules",
    "parse_wait_override",
    "waits_for",
    "zone_named",
]
