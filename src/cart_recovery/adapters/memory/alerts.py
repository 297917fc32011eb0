"""The owner's alert log in memory (the ``AlertLog`` port): tests and ``simulate``."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from cart_recovery.domain.alerts import Alert


class MemoryAlerts:
    """AlertLog in a list, behind a lock."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()

    def record_alert(self, alert: Alert, *, unless_since: datetime) -> Alert | None:
        with self._lock:
            if any(a.kind == alert.kind and a.at > unless_since for a in self.alerts):
                return None
            kept = dataclasses.replace(alert, id=len(self.alerts) + 1, dismissed=False)
            self.alerts.append(kept)
            return kept

    def last_alert(self, kind: str) -> Alert | None:
        with self._lock:
            of_kind = [a for a in self.alerts if a.kind == kind]
        return max(of_kind, key=lambda a: (a.at, a.id), default=None)

    def recent_alerts(self, since: datetime) -> list[Alert]:
        with self._lock:
            found = [a for a in self.alerts if a.at >= since and not a.dismissed]
        return sorted(found, key=lambda a: (a.at, a.id), reverse=True)

    def dismiss_alert(self, alert_id: int) -> bool:
        with self._lock:
            for i, a in enumerate(self.alerts):
                if a.id == alert_id and not a.dismissed:
                    self.alerts[i] = dataclasses.replace(a, dismissed=True)
                    return True
        return False
