"""A short human summary of parsed rules (what ``check-rules`` prints)."""

from __future__ import annotations

from decimal import Decimal

from cart_recovery.domain.durations import format_duration
from cart_recovery.domain.rules.model import Rules, SizeTier


def _amount(d: Decimal) -> str:
    return f"${d:,}"


def _size(tier: SizeTier) -> str:
    if tier.under is not None and tier.over is not None:
        return f"over {_amount(tier.over)} and under {_amount(tier.under)}"
    if tier.under is not None:
        return f"under {_amount(tier.under)}"
    if tier.over is not None:
        return f"over {_amount(tier.over)}"
    return "every other total"


def describe_rules(rules: Rules) -> str:
    """A short human summary of parsed rules (what ``check-rules`` prints)."""
    out = ["Cart sizes (waits counted from when the cart was left):"]
    for t in rules.tiers:
        out.append(
            f"  {t.name} ({_size(t)}): first reminder after {format_duration(t.first)}, "
            f"second after {format_duration(t.second)}"
        )
    count = "one reminder" if rules.reminders == 1 else f"{rules.reminders} reminders"
    out.append(
        f"At most {count} per cart; closed {format_duration(rules.close_out)} after the last."
    )
    out.append(f"At least {format_duration(rules.min_gap)} between a cart's reminders.")
    if rules.quiet is None:
        out.append("Quiet hours: none.")
    else:
        out.append(
            f"Quiet hours: {rules.quiet.start:%H:%M} to {rules.quiet.end:%H:%M}, in the shopper's "
            "timezone (else the store's)."
        )
    out.append(
        f"Do not disturb: no reminder to an address that got one for another cart in the last "
        f"{format_duration(rules.do_not_disturb)}."
    )
    out.append(f"Carts older than {format_duration(rules.max_age)} are never reminded.")
    out.append(
        "Only shoppers who agreed to marketing email are reminded."
        if rules.consent_required
        else "Marketing consent is not required."
    )
    out.append(f"Store timezone: {rules.store_timezone}.")
    return "\n".join(out)
