"""What a simulation did: counted, and written out as the four lists of the JSON report."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import IO, Any

from cart_recovery.domain.calendar import utc_stamp

_FLUSH_EVERY = 2048  # records of a list held before they are written out together
_SENT_STEP = {1: "sent_step1", 2: "sent_step2"}


class Outcomes:
    """What a simulation did: counted, and with ``spool`` also written out as the four lists
    of the JSON report (to temporary files, so a month of carts costs no memory)."""

    LISTS = ("sends", "skips", "closed", "deferred")

    def __init__(self, *, spool: bool) -> None:
        self.sends = self.skips = self.closed = self.deferred = 0
        self.skips_by_reason: Counter[str] = Counter()
        self.closed_by_reason: Counter[str] = Counter()
        self.tiers: Counter[tuple[str, str]] = Counter()
        self._files: dict[str, IO[str]] = {}
        # Each list's records not written yet (None: not spooled), written a batch at a time:
        # one write of a joined batch costs a fraction of a write per record.
        self._pending: dict[str, list[str]] = {}
        self._written: dict[str, bool] = {}
        self._sends = self._skips = self._closed = self._deferred = None
        # The time stamps of recent wake-up instants: a batch's records share its instant,
        # and deferrals gather at the ends of quiet hours (284 instants for 80,979 of them).
        self._stamps: dict[datetime, str] = {}
        if spool:
            for name in self.LISTS:
                self._files[name] = tempfile.TemporaryFile("w+", encoding="ascii")  # noqa: SIM115 - closed by close()
                self._pending[name] = []
                self._written[name] = False
            self._sends = self._pending["sends"]
            self._skips = self._pending["skips"]
            self._closed = self._pending["closed"]
            self._deferred = self._pending["deferred"]

    def _flush(self, name: str) -> None:
        pending = self._pending[name]
        if pending:
            text = ",".join(pending)
            self._files[name].write("," + text if self._written[name] else text)
            self._written[name] = True
            pending.clear()

    def _stamp(self, at: datetime) -> str:
        stamp = self._stamps.get(at)
        if stamp is None:
            if len(self._stamps) >= 4096:
                self._stamps.clear()
            stamp = self._stamps[at] = utc_stamp(at)
        return stamp

    def sent(self, cart_id: str, step: int, at: datetime, tier: str) -> None:
        pending = self._sends
        if pending is not None:
            pending.append(
                f'{{"cart_id":{encode_basestring_ascii(cart_id)},"step":{step},'
                f'"at":"{self._stamp(at)}"}}'
            )
            if len(pending) >= _FLUSH_EVERY:
                self._flush("sends")
        self.sends += 1
        self.tiers[tier, _SENT_STEP[step]] += 1

    def skipped(self, cart_id: str, step: int, reason: str, tier: str) -> None:
        pending = self._skips
        if pending is not None:
            pending.append(
                f'{{"cart_id":{encode_basestring_ascii(cart_id)},"step":{step},'
                f'"reason":{encode_basestring_ascii(reason)}}}'
            )
            if len(pending) >= _FLUSH_EVERY:
                self._flush("skips")
        self.skips += 1
        self.skips_by_reason[reason] += 1
        self.tiers[tier, f"skipped_{reason}"] += 1

    def deferred_to(self, cart_id: str, step: int, due: datetime, at: datetime, tier: str) -> None:
        pending = self._deferred
        if pending is not None:
            pending.append(
                f'{{"cart_id":{encode_basestring_ascii(cart_id)},"step":{step},'
                f'"due":"{utc_stamp(due)}","at":"{self._stamp(at)}"}}'
            )
            if len(pending) >= _FLUSH_EVERY:
                self._flush("deferred")
        self.deferred += 1
        self.tiers[tier, "deferred"] += 1

    def closed_as(self, cart_id: str, reason: str, at: datetime, tier: str) -> None:
        pending = self._closed
        if pending is not None:
            pending.append(
                f'{{"cart_id":{encode_basestring_ascii(cart_id)},'
                f'"reason":{encode_basestring_ascii(reason)},"at":"{self._stamp(at)}"}}'
            )
            if len(pending) >= _FLUSH_EVERY:
                self._flush("closed")
        self.closed += 1
        self.closed_by_reason[reason] += 1
        self.tiers[tier, f"closed_{reason}"] += 1

    def per_tier(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (tier, key), n in sorted(self.tiers.items()):
            out.setdefault(tier, {})[key] = n
        return out

    def totals(self) -> dict[str, Any]:
        """The report's ``totals``, keys in the order the service-based report gives them."""
        return {
            "sends": self.sends,
            "skips": self.skips,
            "skips_by_reason": dict(sorted(self.skips_by_reason.items())),
            "closed": self.closed,
            "closed_by_reason": dict(sorted(self.closed_by_reason.items())),
            "deferred": self.deferred,
            "per_tier": self.per_tier(),
        }

    def write_json(self, out: IO[str], totals: dict[str, Any]) -> None:
        """The JSON report as ``json.dump(..., separators=(",", ":"))`` writes it, then a
        newline."""
        out.write("{")
        for name in self.LISTS:
            out.write(f'"{name}":[')
            self._flush(name)
            f = self._files[name]
            f.flush()
            f.seek(0)
            while chunk := f.read(1 << 20):
                out.write(chunk)
            out.write("],")
        out.write('"totals":')
        out.write(json.dumps(totals, separators=(",", ":")))
        out.write("}\n")

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        self._pending.clear()
        self._sends = self._skips = self._closed = self._deferred = None
