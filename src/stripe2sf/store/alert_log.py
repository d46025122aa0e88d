"""Alert throttling that every process shares: at most one message per kind per period."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update

from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import alerts


class AlertLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def try_acquire(self, kind: str, now: datetime, period: timedelta, message: str) -> int | None:
        """Claim the right to send an alert of `kind` now.

        Returns the number of alerts of this kind suppressed since the last one sent, or None
        when one was already sent within `period` (this one is then counted as suppressed).
        """
        with self.engine.begin() as conn:
            conn.execute(
                dialect_insert(conn)(alerts)
                .values(kind=kind, last_sent_at=None, suppressed=0)
                .on_conflict_do_nothing(index_elements=["kind"])
            )
            suppressed = conn.execute(
                select(alerts.c.suppressed).where(alerts.c.kind == kind).with_for_update()
            ).scalar_one()
            sent = conn.execute(
                update(alerts)
                .where(
                    alerts.c.kind == kind,
                    or_(alerts.c.last_sent_at.is_(None), alerts.c.last_sent_at <= now - period),
                )
                .values(last_sent_at=now, suppressed=0, last_message=message)
            ).rowcount
            if sent:
                return int(suppressed)
            conn.execute(
                update(alerts)
                .where(alerts.c.kind == kind)
                .values(suppressed=alerts.c.suppressed + 1)
            )
            return None
