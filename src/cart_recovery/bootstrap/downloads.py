"""The dashboard's export download, the same on both runtimes: the export's window made now,
in its current state, with the owner action links minted for the owner who downloads it (the
shared sheet's links are the unnamed owner's)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from cart_recovery.adapters.export.files import export_bytes
from cart_recovery.ports import Clock, LinkMaker
from cart_recovery.service.reports import Reports


def export_download(
    reports: Callable[[], Reports], links: LinkMaker, clock: Clock
) -> Callable[[str, str], bytes]:
    """``(name, owner) → bytes`` of ``carts.xlsx`` or ``carts.csv``."""

    def make(name: str, owner: str) -> bytes:
        made = reports()
        day = clock.now().astimezone(made.zone()).date()
        return export_bytes(name, made.window_rows(day, partial(links.action_url, owner=owner)))

    return make
