"""The default line writer: the owner's own words, always."""

from __future__ import annotations

from cart_recovery.ports import PlainLines


class TemplateLines(PlainLines):
    """A LineWriter that never asks anyone: every call keeps the plain text (``None``)."""

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "TemplateLines()"
