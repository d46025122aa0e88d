"""Alert throttling that every process shares (at most one message per kind per period), and
the history of the alerts sent.

`alerts` holds one row per kind: when its last message went out, how many were held back since,
and that message's subject. `alert_history` (migration 0010) holds one row per alert sent, in
the same transaction as the throttle's claim, so two processes never both record one. It is
bounded on insert: rows beyond the newest HISTORY_PER_KIND of their kind are deleted with the
claim, then rows older than HISTORY_DAYS (alerts are throttled: a few rows at most).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import PK, UTCDateTime, alerts, metadata

log = structlog.get_logger(__name__)

HISTORY_PER_KIND = 200
HISTORY_DAYS = 90

alert_history = Table(
    "alert_history",
    metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("kind", String(128), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("subject", Text, nullable=False),
    Column("message", Text),  # the body sent (NULL for alerts sent before it was kept)
    Column("held_back", Integer, nullable=False, default=0),  # suppressed since the one before
    Column("recovered", Boolean, nullable=False, default=False),  # a recovery message
    Index("ix_alert_history_sent_at", "sent_at"),
    Index("ix_alert_history_kind_id", "kind", "id"),
)


@dataclass(frozen=True)
class SentAlert:
    kind: str
    at: datetime
    subject: str
    held_back: int  # alerts of this kind suppressed since the one before
    recovered: bool = False
    message: str | None = None


@dataclass(frozen=True)
class AlertKind:
    kind: str
    last_sent_at: datetime | None
    suppressed: int  # held back since the last one sent
    kept: int  # alerts of this kind in the history


class AlertLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def try_acquire(
        self,
        kind: str,
        now: datetime,
        period: timedelta,
        message: str,
        body: str | None = None,
        recovered: bool = False,
    ) -> int | None:
        """Claim the right to send an alert of `kind` now (`message`: its subject; `body`: its
        text), and record it in the history when granted.

        Returns the number of alerts of this kind suppressed since the last one sent, or None
        when one was already sent within `period` (this one is then counted as suppressed).
        """
        with self.engine.begin() as conn:
            conn.execute(
                dialect_insert(conn)(alerts)
                .values(kind=kind, last_sent_at=None, suppressed=0)
                .on_conflict_do_nothing(index_elements=["kind"])
            )
            suppressed = int(
                conn.execute(
                    select(alerts.c.suppressed).where(alerts.c.kind == kind).with_for_update()
                ).scalar_one()
            )
            sent = conn.execute(
                update(alerts)
                .where(
                    alerts.c.kind == kind,
                    or_(alerts.c.last_sent_at.is_(None), alerts.c.last_sent_at <= now - period),
                )
                .values(last_sent_at=now, suppressed=0, last_message=message)
            ).rowcount
            if not sent:
                conn.execute(
                    update(alerts)
                    .where(alerts.c.kind == kind)
                    .values(suppressed=alerts.c.suppressed + 1)
                )
                return None
            conn.execute(
                alert_history.insert().values(
                    kind=kind,
                    sent_at=now,
                    subject=message,
                    message=body,
                    held_back=suppressed,
                    recovered=recovered,
                )
            )
            _cap(conn, kind)
        _drop_old(self.engine, now)
        return suppressed

    def kinds(self) -> list[AlertKind]:
        """Every kind of alert ever raised, with how many of it the history keeps, most
        recently sent first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts)).all()
            kept: dict[str, int] = {
                str(kind): int(n)
                for kind, n in conn.execute(
                    select(alert_history.c.kind, func.count()).group_by(alert_history.c.kind)
                )
            }
        found = [
            AlertKind(str(r.kind), r.last_sent_at, int(r.suppressed or 0), kept.get(str(r.kind), 0))
            for r in rows
        ]
        oldest = datetime.min.replace(tzinfo=UTC)
        return sorted(found, key=lambda k: k.last_sent_at or oldest, reverse=True)

    def count_sent(self) -> int:
        """How many alerts the history holds, every kind together."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(alert_history)).scalar_one())

    def sent(self, limit: int = 50, offset: int = 0) -> list[SentAlert]:
        """The alerts sent, every kind together, newest first (`offset` rows skipped)."""
        h = alert_history.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_history)
                .order_by(h.sent_at.desc(), h.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return [
            SentAlert(
                str(r.kind),
                r.sent_at,
                str(r.subject),
                int(r.held_back),
                bool(r.recovered),
                r.message,
            )
            for r in rows
        ]


def _cap(conn: Connection, kind: str) -> None:
    """Drop the rows of `kind` beyond its newest HISTORY_PER_KIND (in the claim's transaction:
    the kind's row lock serializes the processes alerting on it)."""
    h = alert_history.c
    last_kept = (
        select(h.id)
        .where(h.kind == kind)
        .order_by(h.id.desc())
        .limit(1)
        .offset(HISTORY_PER_KIND - 1)
        .scalar_subquery()
    )
    conn.execute(delete(alert_history).where(h.kind == kind, h.id < last_kept))


def _drop_old(engine: Engine, now: datetime) -> None:
    """Drop rows older than HISTORY_DAYS, every kind, in a transaction of its own (holding no
    other lock, so two processes alerting on different kinds cannot deadlock over it). Best
    effort: the alert was sent and recorded; the next one prunes again."""
    cutoff = now - timedelta(days=HISTORY_DAYS)
    try:
        with engine.begin() as conn:
            conn.execute(delete(alert_history).where(alert_history.c.sent_at < cutoff))
    except SQLAlchemyError as exc:
        log.warning("alert_history_prune_failed", error=str(exc))
