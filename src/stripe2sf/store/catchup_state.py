"""The catch-up checkpoint: how far the last completed round listed Stripe's events, the
round under way and its cursor, and how many rounds failed in a row (one row, shared by every
process: `serve`'s loop and `stripe2sf catch-up`).

Every write is guarded by the round it belongs to (its `until`), so two processes catching up
at once cannot push the checkpoint past what either has stored: a cursor is only ever saved
after every event newer than it is in the inbox, and `listed_until` only moves forward.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection

from stripe2sf.domain.backfill.catchup import Checkpoint, Round, Unfinished
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import PK, UTCDateTime, events, metadata

ROW = 1

catchup_checkpoint = Table(
    "catchup_checkpoint",
    metadata,
    Column("id", PK, primary_key=True, autoincrement=False),
    Column("listed_until", BigInteger),
    Column("round_since", BigInteger),
    Column("round_until", BigInteger),
    Column("cursor", String(255)),
    Column("cursor_created", BigInteger),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("updated_at", UTCDateTime),
)

_t = catchup_checkpoint.c


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def _int(value: datetime) -> int:
    return int(value.timestamp())


class CatchUpState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self) -> Checkpoint:
        with self.engine.connect() as conn:
            row = conn.execute(select(catchup_checkpoint).where(_t.id == ROW)).first()
        if row is None:
            return Checkpoint()
        unfinished = None
        if row.round_since is not None and row.round_until is not None:
            unfinished = Unfinished(
                since=datetime.fromtimestamp(row.round_since, UTC),
                until=datetime.fromtimestamp(row.round_until, UTC),
                cursor=row.cursor,
                cursor_created=_ts(row.cursor_created),
            )
        return Checkpoint(
            listed_until=_ts(row.listed_until),
            unfinished=unfinished,
            failures=int(row.failures or 0),
            last_error=row.last_error,
        )

    def oldest_created(self) -> datetime | None:
        """When the oldest stored event was created in Stripe (where the first round starts)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.min(events.c.created))).scalar()
        return _ts(value)

    def begin(self, plan: Round, now: datetime) -> None:
        """Record a new round as under way (a resumed one is already recorded)."""
        with self.engine.begin() as conn:
            self._ensure(conn)
            conn.execute(
                update(catchup_checkpoint)
                .where(_t.id == ROW, _t.round_until.is_(None))
                .values(
                    round_since=_int(plan.since),
                    round_until=_int(plan.until),
                    cursor=None,
                    cursor_created=None,
                    updated_at=now,
                )
            )

    def advance(self, plan: Round, now: datetime) -> None:
        """Every event of the round down to `plan.starting_after` is stored."""
        if plan.starting_after is None or plan.cursor_created is None:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(catchup_checkpoint)
                .where(_t.id == ROW, _t.round_until == _int(plan.until))
                .values(
                    cursor=plan.starting_after,
                    cursor_created=_int(plan.cursor_created),
                    updated_at=now,
                )
            )

    def complete(self, plan: Round, now: datetime) -> None:
        """Every event created in [since, until] is stored: the next round starts there."""
        until = _int(plan.until)
        with self.engine.begin() as conn:
            self._ensure(conn)
            conn.execute(
                update(catchup_checkpoint)
                .where(_t.id == ROW)
                .values(
                    listed_until=func.coalesce(
                        func.max(_t.listed_until, until)
                        if conn.dialect.name == "sqlite"
                        else func.greatest(_t.listed_until, until),
                        until,
                    ),
                    failures=0,
                    last_error=None,
                    updated_at=now,
                )
            )
            conn.execute(
                update(catchup_checkpoint)
                .where(_t.id == ROW, _t.round_until == until)
                .values(round_since=None, round_until=None, cursor=None, cursor_created=None)
            )

    def failed(self, error: str, now: datetime) -> Checkpoint:
        """A round stopped before its end (its cursor stays for the next one)."""
        with self.engine.begin() as conn:
            self._ensure(conn)
            conn.execute(
                update(catchup_checkpoint)
                .where(_t.id == ROW)
                .values(failures=_t.failures + 1, last_error=error[:2000], updated_at=now)
            )
        return self.load()

    @staticmethod
    def _ensure(conn: Connection) -> None:
        conn.execute(
            dialect_insert(conn)(catchup_checkpoint)
            .values(id=ROW, failures=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
