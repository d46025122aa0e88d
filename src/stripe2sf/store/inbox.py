"""The inbox: durable Stripe events, claimed a lane at a time under a lease.

A lane holds one Stripe customer's events (see `domain.lanes`). A worker leases a whole lane,
applies its head event (oldest `created` first), and keeps or drops the lease; a lane whose head
waits for a retry is not due, so later events of that customer wait behind it. A crashed worker's
lease simply expires. On PostgreSQL the claim skips rows other workers hold (`FOR UPDATE SKIP
LOCKED`); on SQLite one process runs, and every write transaction begins IMMEDIATE. In both the
final compare-and-set on the lease is what makes a claim exclusive.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, case, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from stripe2sf.domain.audit import AuditRecord
from stripe2sf.store import audit_trail, ledger
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import attempts, events, lanes

PENDING, DONE, IGNORED, DEAD = "pending", "done", "ignored", "dead"
REFUSED = "refused"  # stored, never applied: an integrity rule refused it (`last_error` says why)
DEFERRED_KIND = "budget.deferred"  # error_kind of an event the API budget holds back
STATES = (PENDING, DONE, IGNORED, DEAD, REFUSED)


# The worker's hot path runs these for every event: built once, executed with parameters
# (building SQLAlchemy statements costs more CPU than SQLite spends running them).
_FREE = or_(lanes.c.lease_expires_at.is_(None), lanes.c.lease_expires_at < bindparam("now"))
_DUE_LANE = (
    select(lanes.c.lane)
    .where(lanes.c.next_due_at <= bindparam("now"), _FREE)
    .order_by(lanes.c.head_created, lanes.c.next_due_at)
    .limit(1)
    .with_for_update(skip_locked=True)
)
_TAKE_LANE = (
    update(lanes)
    .where(lanes.c.lane == bindparam("lane_key"), _FREE)
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("expires"))
)
_PENDING_OF_LANE = (
    select(events)
    .where(events.c.lane == bindparam("lane_key"), events.c.state == PENDING)
    .order_by(events.c.created, events.c.id)
)
_HEAD = _PENDING_OF_LANE.limit(1)
_RENEW = (
    update(lanes)
    .where(lanes.c.lane == bindparam("lane_key"), lanes.c.lease_owner == bindparam("owner"))
    .values(lease_expires_at=bindparam("expires"))
)
_LOCK_LANE = select(lanes.c.lane).where(lanes.c.lane == bindparam("lane_key")).with_for_update()
_RELEASE = (
    update(lanes)
    .where(lanes.c.lane == bindparam("lane_key"), lanes.c.lease_owner == bindparam("owner"))
    .values(
        lease_owner=None,
        lease_expires_at=None,
        next_due_at=bindparam("due"),
        head_created=bindparam("head"),
    )
)
_ATTEMPT = insert(attempts)
_DONE = (
    update(events)
    .where(events.c.id == bindparam("row_id"), events.c.state == PENDING)
    .values(
        state=DONE,
        attempts=events.c.attempts + 1,
        processed_at=bindparam("now"),
        next_attempt_at=None,
        last_error=None,
        error_kind=None,
    )
)


@dataclass(frozen=True)
class StoredEvent:
    """An inbox row as the worker sees it."""

    id: int
    event_id: str
    type: str
    lane: str
    created: int
    attempts: int
    received_at: datetime
    payload_text: str
    state: str = PENDING
    source: str = "webhook"  # or "catchup", "replay": the API budget ranks by it

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload_text)
        return value


@dataclass(frozen=True)
class Applied:
    """What a handler applied: recorded with the event's completion, in one transaction."""

    ledger_updates: Mapping[str, int] = field(default_factory=dict)
    audit_records: Sequence[AuditRecord] = ()


@dataclass(frozen=True)
class Moved:
    """What a handler answers for an event that belongs in another lane (`domain.lanes.
    settled_lane`): nothing was written; the inbox moves it there."""

    lane: str


@dataclass(frozen=True)
class Head:
    """A lane's head event and when it is due, read in the same transaction as a claim or a
    completion (saving the worker a transaction per event). `released`: the lane was empty, so
    the completion gave the lease back too."""

    event: StoredEvent | None
    due: datetime | None
    released: bool = False


@dataclass(frozen=True)
class Claim:
    lane: str
    head: Head


@dataclass(frozen=True)
class NewEvent:
    """What the webhook endpoint (or catch-up) hands the inbox."""

    event_id: str
    type: str
    lane: str
    created: int
    livemode: bool
    api_version: str | None
    payload_text: str
    handled: bool
    source: str = "webhook"
    refused: str | None = None  # why it must never be applied (see `domain.integrity`)
    refused_kind: str = "refused"

    @property
    def pending(self) -> bool:
        """Whether the worker is to apply it."""
        return self.handled and self.refused is None

    @property
    def state(self) -> str:
        return REFUSED if self.refused else PENDING if self.handled else IGNORED


def _head(conn: Connection, lane: str) -> Head:
    row = conn.execute(_HEAD, {"lane_key": lane}).first()
    return Head(None, None) if row is None else Head(_row_to_event(row), row.next_attempt_at)


def _next_or_release(conn: Connection, lane: str, owner: str) -> Head:
    """After an event of a lane we hold is finished: its next head, or (when the lane is empty)
    the lane given back, in the caller's transaction."""
    head = _head(conn, lane)
    if head.event is not None:
        return head
    conn.execute(_RELEASE, {"lane_key": lane, "owner": owner, "due": None, "head": None})
    return Head(None, None, released=True)


def _row_to_event(row: Any) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        event_id=row.event_id,
        type=row.type,
        lane=row.lane,
        created=row.created,
        attempts=row.attempts,
        received_at=row.received_at,
        payload_text=row.payload,
        state=row.state,
        source=row.source or "webhook",
    )


class WriterLock:
    """Orders this process's write transactions so that urgent ones (the webhook intake, whose
    callers wait for the answer) go before ordinary ones (the worker, which can wait a few
    milliseconds). `exclusive` (SQLite, one writer at a time): a re-entrant lock where urgent
    holders go first; a plain lock is not fair, so a worker thread releasing and re-taking it
    in a loop could keep the intake waiting for several of its transactions. Otherwise
    (PostgreSQL) ordinary holders run together and only wait while an urgent one is pending,
    which keeps the worker's threads off the CPU while the intake commits."""

    def __init__(self, exclusive: bool = True) -> None:
        self.exclusive = exclusive
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent = 0  # urgent holders waiting or (when not exclusive) holding

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        if not self.exclusive:
            yield from self._hold_shared(urgent)
            return
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                self._urgent += urgent
                while self._owner is not None or (not urgent and self._urgent):
                    self._cond.wait()
                self._urgent -= urgent
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()

    def _hold_shared(self, urgent: bool) -> Iterator[None]:
        with self._cond:
            if urgent:
                self._urgent += 1
            else:
                while self._urgent:
                    self._cond.wait()
        try:
            yield
        finally:
            if urgent:
                with self._cond:
                    self._urgent -= 1
                    self._cond.notify_all()


_WRITER_LOCKS: dict[str, WriterLock] = {}
_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> WriterLock:
    """One lock per database, shared by every engine of this process."""
    url = engine.url
    key = f"{url.drivername}:{url.host}:{url.port}:{url.database}"
    with _GUARD:
        return _WRITER_LOCKS.setdefault(key, WriterLock(exclusive=engine.dialect.name == "sqlite"))


class Inbox:
    """All inbox reads and writes; one instance per process, shared by its threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = _writer_lock(engine)

    @contextmanager
    def _write(self, urgent: bool = False) -> Iterator[Connection]:
        """A write transaction, ordered by the process's `WriterLock`: the intake (`urgent`)
        ahead of the worker. On SQLite this also replaces SQLite's own busy handler between
        this process's threads: it polls with growing sleeps, which let a stream of worker
        transactions hold off the webhook intake for hundreds of milliseconds."""
        with self._lock.hold(urgent), self.engine.begin() as conn:
            yield conn

    # -- intake -----------------------------------------------------------------------------

    def add(self, event: NewEvent, now: datetime) -> bool:
        """Store an event once; True when it is new. Commits before returning."""
        return self.add_many([event], now)[0]

    def add_many(self, batch: Sequence[NewEvent], now: datetime) -> list[bool]:
        """Store events in one transaction (one fsync); for each, whether it was new.

        Group commit is what lets the webhook endpoint acknowledge hundreds of events a second
        with every acknowledged one on disk.
        """
        if not batch:
            return []
        rows = [
            {
                "event_id": e.event_id,
                "type": e.type,
                "lane": e.lane,
                "created": e.created,
                "livemode": e.livemode,
                "api_version": e.api_version,
                "payload": e.payload_text,
                "source": e.source,
                "state": e.state,
                "attempts": 0,
                "received_at": now,
                "next_attempt_at": now if e.pending else None,
                "last_error": e.refused,
                "error_kind": e.refused_kind if e.refused else None,
            }
            for e in batch
        ]
        with self._write(urgent=True) as conn:
            stmt = (
                dialect_insert(conn)(events)
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(events.c.event_id, sort_by_parameter_order=True)
            )
            inserted = set(conn.execute(stmt, rows).scalars())
            wake: dict[str, int] = {}
            for e in batch:
                if e.pending and e.event_id in inserted:
                    wake[e.lane] = min(wake.get(e.lane, e.created), e.created)
            self._wake_lanes(conn, wake, now)
        seen: set[str] = set()
        result = []
        for e in batch:
            result.append(e.event_id in inserted and e.event_id not in seen)
            seen.add(e.event_id)
        return result

    def _wake_lanes(self, conn: Connection, heads: Mapping[str, int], now: datetime) -> None:
        """Make lanes due now, each earlier in the queue if its new event is older than its
        head; one statement for the whole batch (a round trip per lane would cost more than
        the insert of the events)."""
        if not heads:
            return
        ins = dialect_insert(conn)(lanes).values(
            [
                {"lane": lane, "next_due_at": now, "head_created": created}
                for lane, created in sorted(heads.items())  # one lock order for every writer
            ]
        )
        head, new = lanes.c.head_created, ins.excluded.head_created
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["lane"],
                set_={
                    "next_due_at": ins.excluded.next_due_at,
                    "head_created": case((or_(head.is_(None), head > new), new), else_=head),
                },
            )
        )

    # -- claiming ---------------------------------------------------------------------------

    def claim_lane(self, owner: str, now: datetime, lease: timedelta) -> Claim | None:
        """Lease the due lane whose head event is oldest, with that head; None when nothing
        is due."""
        with self._write() as conn:
            candidate = conn.execute(_DUE_LANE, {"now": now}).scalar_one_or_none()
            if candidate is None:
                return None
            params = {"lane_key": candidate, "now": now, "owner": owner, "expires": now + lease}
            if conn.execute(_TAKE_LANE, params).rowcount != 1:
                return None
            return Claim(candidate, _head(conn, candidate))

    def renew(self, lane: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Extend a lease we hold; False if it was lost (expired and taken)."""
        with self._write() as conn:
            return self._renew(conn, lane, owner, now, lease)

    def _renew(
        self, conn: Connection, lane: str, owner: str, now: datetime, lease: timedelta
    ) -> bool:
        params = {"lane_key": lane, "owner": owner, "expires": now + lease}
        return conn.execute(_RENEW, params).rowcount == 1

    def release(self, lane: str, owner: str) -> None:
        """Give a lane back, recording when it is next due (None when empty)."""
        with self._write() as conn:
            # Lock the lane row first: an event stored meanwhile then either is seen below or
            # wakes the lane after we commit, never in between (no lost wake-up).
            conn.execute(_LOCK_LANE, {"lane_key": lane})
            head = conn.execute(_HEAD, {"lane_key": lane}).first()
            conn.execute(
                _RELEASE,
                {
                    "lane_key": lane,
                    "owner": owner,
                    "due": head.next_attempt_at if head else None,
                    "head": head.created if head else None,
                },
            )

    # -- outcomes ---------------------------------------------------------------------------

    def _finish(
        self,
        conn: Connection,
        event: StoredEvent,
        owner: str,
        started: datetime,
        now: datetime,
        outcome: str,
        error: str | None = None,
        kind: str | None = None,
    ) -> None:
        conn.execute(
            _ATTEMPT,
            {
                "event_id": event.event_id,
                "attempt": event.attempts + 1,
                "worker": owner,
                "started_at": started,
                "finished_at": now,
                "outcome": outcome,
                "error": error,
                "error_kind": kind,
            },
        )

    def complete(
        self,
        event: StoredEvent,
        owner: str,
        started: datetime,
        now: datetime,
        lease: timedelta,
        outcome: Applied | None = None,
    ) -> Head | None:
        """Mark done, with the ledger and audit entries of what was applied, in one transaction
        that also reads the lane's next head and, when the lane is now empty, releases it.
        None (and nothing written) if we lost the lane's lease."""
        with self._write() as conn:
            # The renewal locks the lane row first (as `release` does): an event stored
            # meanwhile is either seen by the head read below or wakes the lane after we commit.
            if not self._renew(conn, event.lane, owner, now, lease):
                # The writes were made all the same: the trail must show them. The event stays
                # pending for the lane's new holder (upserts make the second pass harmless).
                if outcome is not None:
                    audit_trail.append(conn, outcome.audit_records)
                return None
            if outcome is not None:
                ledger.raise_to(conn, outcome.ledger_updates, event.event_id, now)
                audit_trail.append(conn, outcome.audit_records)
            conn.execute(_DONE, {"row_id": event.id, "now": now})
            self._finish(conn, event, owner, started, now, "done")
            return _next_or_release(conn, event.lane, owner)

    def move(
        self,
        event: StoredEvent,
        owner: str,
        started: datetime,
        now: datetime,
        lane: str,
        lease: timedelta,
    ) -> Head | None:
        """Move a pending event to another lane, woken so that it is applied there in its
        order, and go on with this lane as `complete` does. None (nothing written) if the
        lease was lost."""
        with self._write() as conn:
            if not self._renew(conn, event.lane, owner, now, lease):
                return None
            moved = conn.execute(
                update(events)
                .where(events.c.id == event.id, events.c.state == PENDING)
                .values(lane=lane)
            ).rowcount
            if moved:
                self._finish(conn, event, owner, started, now, "moved", f"to lane {lane}")
                self._wake_lanes(conn, {lane: event.created}, now)
            return _next_or_release(conn, event.lane, owner)

    def defer(
        self,
        event: StoredEvent,
        owner: str,
        now: datetime,
        until: datetime,
        reason: str,
        lease: timedelta,
    ) -> bool:
        """The API budget makes the event wait until `until`; attempts unchanged. False (and
        nothing written) if the lease was lost."""
        with self._write() as conn:
            if not self._renew(conn, event.lane, owner, now, lease):
                return False
            conn.execute(
                update(events)
                .where(events.c.id == event.id, events.c.state == PENDING)
                .values(next_attempt_at=until, last_error=reason, error_kind=DEFERRED_KIND)
            )
            return True

    def behind_deferred_head(self, lane: str, now: datetime, limit: int = 50) -> list[StoredEvent]:
        """When the lane's head waits for the API budget: the due events behind it, oldest
        first (the worker applies those the budget still allows; the sync ledger keeps a late
        write from overwriting newer state). Empty otherwise, so lanes keep their order."""
        with self.engine.connect() as conn:
            rows = conn.execute(_PENDING_OF_LANE.limit(limit), {"lane_key": lane}).all()
        if not rows or rows[0].error_kind != DEFERRED_KIND:
            return []
        return [
            _row_to_event(r)
            for r in rows[1:]
            if r.error_kind != DEFERRED_KIND
            and (r.next_attempt_at is None or r.next_attempt_at <= now)
        ]

    def retry_later(
        self,
        event: StoredEvent,
        owner: str,
        started: datetime,
        now: datetime,
        at: datetime,
        error: str,
        kind: str,
        lease: timedelta,
    ) -> bool:
        """Record a failed attempt and give the lane back, due when its head is (`at` for this
        event), in one transaction. False (nothing written) if the lease was lost."""
        with self._write() as conn:
            if not self._renew(conn, event.lane, owner, now, lease):
                return False
            self._record_failure(
                conn, event, owner, started, now, error, kind, "retry", {"next_attempt_at": at}
            )
            head = conn.execute(_HEAD, {"lane_key": event.lane}).first()
            conn.execute(
                _RELEASE,
                {
                    "lane_key": event.lane,
                    "owner": owner,
                    "due": head.next_attempt_at if head else None,
                    "head": head.created if head else None,
                },
            )
            return True

    def dead_letter(
        self,
        event: StoredEvent,
        owner: str,
        started: datetime,
        now: datetime,
        error: str,
        kind: str,
        lease: timedelta,
    ) -> Head | None:
        """Move an event to the dead letters and go on with its lane under a renewed lease, as
        `complete` does: the lane's next head, or `released` when it is empty. None (nothing
        written) if the lease was lost or the event was no longer pending, so that a dead letter
        is recorded, and alerted, once."""
        values = {"state": DEAD, "processed_at": now, "next_attempt_at": None}
        with self._write() as conn:
            if not self._renew(conn, event.lane, owner, now, lease):
                return None
            if not self._record_failure(
                conn, event, owner, started, now, error, kind, "dead", values
            ):
                return None
            return _next_or_release(conn, event.lane, owner)

    def _record_failure(
        self,
        conn: Connection,
        event: StoredEvent,
        owner: str,
        started: datetime,
        now: datetime,
        error: str,
        kind: str,
        outcome: str,
        values: dict[str, Any],
    ) -> bool:
        """The failed attempt on the event row and in the attempts log; False when the event
        was no longer pending (nothing written)."""
        changed = conn.execute(
            update(events)
            .where(events.c.id == event.id, events.c.state == PENDING)
            .values(attempts=events.c.attempts + 1, last_error=error, error_kind=kind, **values)
        ).rowcount
        if changed != 1:
            return False
        self._finish(conn, event, owner, started, now, outcome, error, kind)
        return True

    # -- operator actions -------------------------------------------------------------------

    def replay(
        self, event_ids: Sequence[str], now: datetime, include_refused: bool = False
    ) -> list[str]:
        """Put events (dead, done or ignored) back in line; returns the ids found. Refused
        events only with `include_refused`: the caller has checked that the rule which refused
        them no longer does (a key of the event's mode is configured now)."""
        found: list[str] = []
        wanted = events.c.event_id.in_(list(event_ids))
        with self._write() as conn:
            rows = conn.execute(
                select(events.c.event_id, events.c.lane, events.c.created).where(
                    wanted if include_refused else wanted & (events.c.state != REFUSED)
                )
            ).all()
            for row in rows:
                conn.execute(
                    update(events)
                    .where(events.c.event_id == row.event_id)
                    .values(state=PENDING, attempts=0, next_attempt_at=now, last_error=None)
                )
                found.append(row.event_id)
            heads: dict[str, int] = {}
            for row in rows:
                heads[row.lane] = min(heads.get(row.lane, row.created), row.created)
            self._wake_lanes(conn, heads, now)
        return found

    def dead_letter_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(events.c.event_id).where(events.c.state == DEAD).order_by(events.c.id)
                ).scalars()
            )

    # -- reading ----------------------------------------------------------------------------

    def get(self, event_id: str) -> StoredEvent | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(events).where(events.c.event_id == event_id)).first()
        return _row_to_event(row) if row is not None else None

    def row(self, event_id: str) -> Mapping[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(events).where(events.c.event_id == event_id)).first()
        return dict(row._mapping) if row is not None else None

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events.c.state, func.count()).group_by(events.c.state)).all()
        result = dict.fromkeys(STATES, 0)
        result.update({state: count for state, count in rows})
        return result

    def newest_created(self) -> datetime | None:
        """When the newest stored event was created in Stripe (catch-up starts there)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(events.c.created))).scalar()
        return datetime.fromtimestamp(int(value), UTC) if value is not None else None

    def oldest_pending_received(self) -> datetime | None:
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(
                select(func.min(events.c.received_at)).where(events.c.state == PENDING)
            ).scalar()
        return value

    def attempts_of(self, event_id: str) -> list[Mapping[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(attempts).where(attempts.c.event_id == event_id).order_by(attempts.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]
