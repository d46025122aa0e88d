"""Webhook intake counts shared by every process: per-minute buckets of accepted and refused
deliveries by reason, and when the last of each happened (`stripe2sf status` runs in another
process than `serve`, and several `serve` processes may share a database).

The intake counts in memory (`web.intake.IntakeTally`) and adds its counts here every few
seconds: one transaction per flush, whatever the request rate. Buckets older than `keep` are
deleted (at most once a minute), so the table holds at most keep/60 minutes x reasons rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    String,
    Table,
    delete,
    func,
    select,
)
from sqlalchemy.engine import Connection

from stripe2sf.domain.intake_health import (
    ACCEPTED,
    RECENT_MINUTES,
    REFUSED,
    Counts,
    IntakeHealth,
    first_minute,
    minute_of,
    sum_buckets,
)
from stripe2sf.store.catchup_state import catchup_checkpoint
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import PK, UTCDateTime, alerts, metadata

intake_minutes = Table(
    "intake_minutes",
    metadata,
    Column("minute", PK, primary_key=True, autoincrement=False),
    Column("outcome", String(16), primary_key=True),
    Column("reason", String(64), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
)

# The newest accepted and the newest refused delivery, kept past the buckets' retention.
intake_latest = Table(
    "intake_latest",
    metadata,
    Column("outcome", String(16), primary_key=True),
    Column("reason", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

PRUNE_EVERY = timedelta(minutes=1)

# (minute, outcome, reason) -> (count, last occurrence)
Tally = Mapping[tuple[int, str, str], tuple[int, datetime]]


@dataclass(frozen=True)
class AlertSent:
    """The alerts table's row of a kind: when its last message went out."""

    last_sent_at: datetime | None
    suppressed: int


def _greater(conn: Connection, a: Any, b: Any) -> Any:
    return func.max(a, b) if conn.dialect.name == "sqlite" else func.greatest(a, b)


class IntakeHealthStore:
    def __init__(self, engine: Engine, keep: timedelta = timedelta(hours=25)) -> None:
        self.engine = engine
        self.keep = keep
        self._pruned: datetime | None = None  # when this store last deleted old buckets

    def add(self, tally: Tally, now: datetime) -> None:
        """Add counts to their buckets and move the latest times forward (one transaction)."""
        if not tally:
            return
        latest: dict[str, tuple[datetime, str]] = {}
        for (_, outcome, reason), (_, at) in tally.items():
            if outcome not in latest or at > latest[outcome][0]:
                latest[outcome] = (at, reason)
        with self.engine.begin() as conn:
            insert = dialect_insert(conn)
            for (minute, outcome, reason), (count, at) in sorted(tally.items()):
                stmt = insert(intake_minutes).values(
                    minute=minute, outcome=outcome, reason=reason, count=count, last_at=at
                )
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["minute", "outcome", "reason"],
                        set_={
                            "count": intake_minutes.c.count + stmt.excluded.count,
                            "last_at": _greater(
                                conn, intake_minutes.c.last_at, stmt.excluded.last_at
                            ),
                        },
                    )
                )
            for outcome, (at, reason) in sorted(latest.items()):
                stmt = insert(intake_latest).values(outcome=outcome, reason=reason, at=at)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["outcome"],
                        set_={"reason": stmt.excluded.reason, "at": stmt.excluded.at},
                        where=intake_latest.c.at <= stmt.excluded.at,
                    )
                )
            if self._pruned is None or now - self._pruned >= PRUNE_EVERY:
                self._pruned = now
                cutoff = minute_of((now - self.keep).timestamp())
                conn.execute(delete(intake_minutes).where(intake_minutes.c.minute < cutoff))

    def health(
        self,
        now: datetime,
        alert_window_seconds: float,
        recent_minutes: int = RECENT_MINUTES,
        hour_seconds: float = 3600.0,
    ) -> IntakeHealth:
        """The counts of the last hour, of the banner's and of the alert's windows."""
        longest = max(hour_seconds, recent_minutes * 60.0, alert_window_seconds)
        oldest = first_minute(now, longest)
        t = intake_minutes.c
        with self.engine.connect() as conn:
            rows = [
                (int(minute), str(outcome), str(reason), int(count))
                for minute, outcome, reason, count in conn.execute(
                    select(t.minute, t.outcome, t.reason, t.count).where(t.minute >= oldest)
                )
            ]
            latest = {
                r.outcome: (r.at, r.reason)
                for r in conn.execute(
                    select(intake_latest.c.outcome, intake_latest.c.reason, intake_latest.c.at)
                )
            }
        refused = latest.get(REFUSED)
        return IntakeHealth(
            hour=sum_buckets(rows, first_minute(now, hour_seconds)),
            recent=sum_buckets(rows, first_minute(now, recent_minutes * 60.0)),
            alert_window=sum_buckets(rows, first_minute(now, alert_window_seconds)),
            last_accepted_at=latest[ACCEPTED][0] if ACCEPTED in latest else None,
            last_refused_at=refused[0] if refused else None,
            last_refused_reason=refused[1] if refused else None,
            recent_minutes=recent_minutes,
            alert_window_seconds=alert_window_seconds,
        )

    def window(self, now: datetime, seconds: float, outcome: str = REFUSED) -> Counts:
        """The counts of one outcome in the window of `seconds` ending at `now` (one query:
        the alert monitor reads this every tick)."""
        t = intake_minutes.c
        with self.engine.connect() as conn:
            rows = [
                (int(minute), str(o), str(reason), int(count))
                for minute, o, reason, count in conn.execute(
                    select(t.minute, t.outcome, t.reason, t.count).where(
                        t.minute >= first_minute(now, seconds), t.outcome == outcome
                    )
                )
            ]
        return sum_buckets(rows, first_minute(now, seconds))

    def bucket_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(intake_minutes)).scalar_one())

    def alert_sent(self, kind: str) -> AlertSent | None:
        """When an alert of `kind` last went out (None: never)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(alerts.c.last_sent_at, alerts.c.suppressed).where(alerts.c.kind == kind)
            ).first()
        if row is None:
            return None
        return AlertSent(row.last_sent_at, int(row.suppressed or 0))


def catchup_updated_at(engine: Engine) -> datetime | None:
    """When a catch-up round last began, advanced, completed or failed (None: never)."""
    with engine.connect() as conn:
        value: datetime | None = conn.execute(
            select(func.max(catchup_checkpoint.c.updated_at))
        ).scalar()
    return value
