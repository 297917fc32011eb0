"""The default line writer: the owner's own words, always."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class TemplateLines:
    """A LineWriter that never asks anyone: every call keeps the plain text (``None``)."""

    def opening_line(
        self,
        *,
        plain: str,
        items: Sequence[str],
        saved_link: bool,
        store_name: str = "",
        step: int = 1,
        quantities: Sequence[int] = (),
    ) -> str | None:
        return None

    def summary_paragraph(self, *, plain: str, figures: Mapping[str, object]) -> str | None:
        return None

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "TemplateLines()"
