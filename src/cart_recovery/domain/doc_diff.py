"""What changed between two versions of an owner's doc: a one-line summary for the audit row
and a unified diff for the history view."""

from __future__ import annotations

import difflib


def _lines(text: str) -> list[str]:
    return text.splitlines()


def line_changes(old: str, new: str) -> tuple[int, int]:
    """How many lines were added and how many removed going from ``old`` to ``new``."""
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, _lines(old), _lines(new), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, removed


def diff_summary(old: str, new: str) -> str:
    """``+2 −1 lines`` (``no change`` when the lines are the same)."""
    added, removed = line_changes(old, new)
    if not added and not removed:
        return "no change"
    return f"+{added} \u2212{removed} lines"


def unified_diff(old: str, new: str, *, old_name: str = "before", new_name: str = "after") -> str:
    """The unified diff of ``old`` to ``new`` (empty when the lines are the same)."""
    return "\n".join(
        difflib.unified_diff(_lines(old), _lines(new), old_name, new_name, lineterm="")
    )
