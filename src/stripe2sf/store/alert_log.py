"""Alert throttling that every process shares: at most one message per kind per period.

Each kind's row also keeps its recent history (the `last_message` column holds a JSON list of
the last HISTORY_KEPT alerts sent: when, subject, how many were held back before it), which
the dashboard's alerts page reads. A row written before that holds the last subject as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select, update

from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import alerts

HISTORY_KEPT = 50


@dataclass(frozen=True)
class SentAlert:
    kind: str
    at: datetime
    subject: str
    held_back: int  # alerts of this kind suppressed since the one before


@dataclass(frozen=True)
class AlertKind:
    kind: str
    last_sent_at: datetime | None
    suppressed: int  # held back since the last one sent
    sent: list[SentAlert]  # newest first


def _history(kind: str, column: str | None, last_sent_at: datetime | None) -> list[SentAlert]:
    if not column:
        return []
    try:
        doc: Any = json.loads(column)
    except ValueError:
        doc = None
    if not isinstance(doc, list):  # a subject written before the history was kept
        return [SentAlert(kind, last_sent_at, column, 0)] if last_sent_at else []
    out = []
    for item in doc:
        try:
            at = datetime.fromisoformat(str(item["at"]))
        except (KeyError, TypeError, ValueError):
            continue
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        out.append(SentAlert(kind, at, str(item.get("subject") or ""), int(item.get("held") or 0)))
    return sorted(out, key=lambda a: a.at, reverse=True)


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
            row = conn.execute(
                select(alerts.c.suppressed, alerts.c.last_message, alerts.c.last_sent_at)
                .where(alerts.c.kind == kind)
                .with_for_update()
            ).one()
            suppressed = int(row.suppressed)
            history = [
                {"at": a.at.isoformat(), "subject": a.subject, "held": a.held_back}
                for a in reversed(_history(kind, row.last_message, row.last_sent_at))
            ]
            history.append({"at": now.isoformat(), "subject": message, "held": suppressed})
            sent = conn.execute(
                update(alerts)
                .where(
                    alerts.c.kind == kind,
                    or_(alerts.c.last_sent_at.is_(None), alerts.c.last_sent_at <= now - period),
                )
                .values(
                    last_sent_at=now,
                    suppressed=0,
                    last_message=json.dumps(history[-HISTORY_KEPT:]),
                )
            ).rowcount
            if sent:
                return suppressed
            conn.execute(
                update(alerts)
                .where(alerts.c.kind == kind)
                .values(suppressed=alerts.c.suppressed + 1)
            )
            return None

    def kinds(self) -> list[AlertKind]:
        """Every kind of alert ever raised, with its recent history, most recent first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts)).all()
        found = [
            AlertKind(
                str(r.kind),
                r.last_sent_at,
                int(r.suppressed or 0),
                _history(str(r.kind), r.last_message, r.last_sent_at),
            )
            for r in rows
        ]
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda k: k.last_sent_at or oldest, reverse=True)

    def sent(self, limit: int = 200) -> list[SentAlert]:
        """The alerts sent, every kind together, newest first."""
        every = [a for k in self.kinds() for a in k.sent]
        return sorted(every, key=lambda a: a.at, reverse=True)[:limit]
