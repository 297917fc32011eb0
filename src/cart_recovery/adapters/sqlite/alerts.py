"""The owner's alert log (the ``AlertLog`` port) in the ``alerts`` table."""

from __future__ import annotations

from datetime import datetime

from cart_recovery.adapters.sqlite.codec import from_us, to_us
from cart_recovery.adapters.sqlite.connection import Connection
from cart_recovery.domain.alerts import Alert

_ROW = "SELECT id, kind, at, title, body, dismissed FROM alerts"


def _alert(row: tuple[int, str, int, str, str, int]) -> Alert:
    return Alert(
        kind=row[1],
        at=from_us(row[2]),
        title=row[3],
        body=row[4],
        id=int(row[0]),
        dismissed=bool(row[5]),
    )


class Alerts(Connection):
    def record_alert(self, alert: Alert, *, unless_since: datetime) -> Alert | None:
        with self._write() as c:
            held = c.execute(
                "SELECT 1 FROM alerts WHERE kind = ? AND at > ? LIMIT 1",
                (alert.kind, to_us(unless_since)),
            ).fetchone()
            if held is not None:
                return None
            cursor = c.execute(
                "INSERT INTO alerts (kind, at, title, body, dismissed) VALUES (?, ?, ?, ?, 0)",
                (alert.kind, to_us(alert.at), alert.title, alert.body),
            )
            new_id = cursor.lastrowid
        assert new_id is not None
        return Alert(alert.kind, alert.at, alert.title, alert.body, id=new_id)

    def last_alert(self, kind: str) -> Alert | None:
        with self._lock:
            row = self._conn.execute(
                f"{_ROW} WHERE kind = ? ORDER BY at DESC, id DESC LIMIT 1",
                (kind,),
            ).fetchone()
        return None if row is None else _alert(row)

    def recent_alerts(self, since: datetime) -> list[Alert]:
        with self._lock:
            rows = self._conn.execute(
                f"{_ROW} WHERE at >= ? AND dismissed = 0 ORDER BY at DESC, id DESC",
                (to_us(since),),
            ).fetchall()
        return [_alert(r) for r in rows]

    def dismiss_alert(self, alert_id: int) -> bool:
        with self._write(one_statement=True) as c:
            cursor = c.execute(
                "UPDATE alerts SET dismissed = 1 WHERE id = ? AND dismissed = 0", (alert_id,)
            )
            return cursor.rowcount == 1


__all__ = ["Alerts"]
