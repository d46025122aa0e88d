"""The inbox: durable Stripe events, claimed many lanes at a time under a lease.

A lane holds one Stripe customer's events (see `domain.batch.lanes`). A worker leases whole lanes
(`claim_batch`), applies their events in order (oldest `created` first) and records each wave's
outcomes (`record`), keeping or giving back each lease; a lane whose head
waits for a retry is not due, so later events of that customer wait behind it. A crashed worker's
lease simply expires. On PostgreSQL the claim skips rows other workers hold (`FOR UPDATE SKIP
LOCKED`); on SQLite one process runs, and every write transaction begins IMMEDIATE. In both the
final compare-and-set on the lease is what makes a claim exclusive.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, case, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from stripe2sf.domain.audit import AuditRecord
from stripe2sf.domain.batch.order import ready_prefix
from stripe2sf.store import audit_trail, ledger
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import attempts, events, lanes

PENDING, DONE, IGNORED, DEAD = "pending", "done", "ignored", "dead"
DEFERRED = "deferred"  # a batch outcome only: the event waits for the API budget, still pending
REFUSED = "refused"  # stored, never applied: an integrity rule refused it (`last_error` says why)
DEFERRED_KIND = "budget.deferred"  # error_kind of an event the API budget holds back
# a batch outcome only: applied in one wave with an earlier event of its lane that is retried,
# it waits behind that one, still pending, no attempt counted
HELD = "held"
HELD_KIND = "lane.held_back"
STATES = (PENDING, DONE, IGNORED, DEAD, REFUSED)


# The worker's hot path runs these for every event: built once, executed with parameters
# (building SQLAlchemy statements costs more CPU than SQLite spends running them).
_FREE = or_(lanes.c.lease_expires_at.is_(None), lanes.c.lease_expires_at < bindparam("now"))
_PENDING_OF_LANE = (
    select(events)
    .where(events.c.lane == bindparam("lane_key"), events.c.state == PENDING)
    .order_by(events.c.created, events.c.id)
)
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
_LANES_IN = lanes.c.lane.in_(bindparam("lane_keys", expanding=True))
_DUE_LANES = (
    select(lanes.c.lane)
    .where(lanes.c.next_due_at <= bindparam("now"), _FREE)
    .order_by(lanes.c.head_created, lanes.c.next_due_at)
    .with_for_update(skip_locked=True)
)
_TAKE_LANES = (
    update(lanes)
    .where(_LANES_IN, _FREE)
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("expires"))
    .returning(lanes.c.lane)
)
# Locks in one order (by name, as the intake's `_wake_lanes` does): no deadlock between them.
_LOCK_LANES = select(lanes.c.lane).where(_LANES_IN).order_by(lanes.c.lane).with_for_update()
_RENEW_LANES = (
    update(lanes)
    .where(_LANES_IN, lanes.c.lease_owner == bindparam("owner"))
    .values(lease_expires_at=bindparam("expires"))
    .returning(lanes.c.lane)
)
_RANKED = select(
    events,
    func.row_number()
    .over(partition_by=events.c.lane, order_by=(events.c.created, events.c.id))
    .label("rank"),
).where(events.c.lane.in_(bindparam("lane_keys", expanding=True)), events.c.state == PENDING)
_RANKED_SUB = _RANKED.subquery()
# Each lane's first `per_lane` pending events, in lane order.
_PENDING_OF_LANES = (
    select(_RANKED_SUB)
    .where(_RANKED_SUB.c.rank <= bindparam("per_lane"))
    .order_by(_RANKED_SUB.c.lane, _RANKED_SUB.c.rank)
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
    due: datetime | None = None  # when it may be applied (its `next_attempt_at`)

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
class Failed:
    """What a batch handler answers for an event it could not apply: the error the retry
    policy decides on, and the audit records of what was written meanwhile."""

    error: BaseException
    audit_records: Sequence[AuditRecord] = ()


@dataclass(frozen=True)
class Moved:
    """What a handler answers for an event that belongs in another lane (`domain.batch.lanes.
    settled_lane`): nothing was written; the inbox moves it there."""

    lane: str


@dataclass(frozen=True)
class LaneClaim:
    """A lane leased by `claim_batch`, with its consecutive due events in order."""

    lane: str
    events: tuple[StoredEvent, ...]


@dataclass(frozen=True)
class Finished:
    """One event's outcome in a batch, as `Inbox.record` writes it. `outcome`: done, moved
    (to `lane_to`), retry (at `at`), dead, deferred (until `at`, no attempt counted) or held
    (behind an earlier event of its lane that is retried, no attempt counted).
    `applied`: what was written (its audit records are kept whatever the outcome)."""

    event: StoredEvent
    started: datetime
    outcome: str
    applied: Applied | None = None
    lane_to: str | None = None
    error: str | None = None
    kind: str | None = None
    at: datetime | None = None


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
    refused: str | None = None  # why it must never be applied (see `domain.flows.integrity`)
    refused_kind: str = "refused"

    @property
    def pending(self) -> bool:
        """Whether the worker is to apply it."""
        return self.handled and self.refused is None

    @property
    def state(self) -> str:
        return REFUSED if self.refused else PENDING if self.handled else IGNORED


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
        due=row.next_attempt_at,
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


# Sources whose events wake their lane at once, never after the batch linger: captured
# Salesforce changes (Change Data Capture, polling), applied as Stripe writes.
UNLINGERED_SOURCES = frozenset({"cdc", "poll"})


class Inbox:
    """All inbox reads and writes; one instance per process, shared by its threads."""

    def __init__(self, engine: Engine, linger: timedelta = timedelta(0)) -> None:
        self.engine = engine
        # A lane woken by a delivery becomes due `linger` later, so the burst of events Stripe
        # sends for one payment (customer, payment method, charge, payment intent, invoice)
        # is claimed together and costs one round trip instead of one per event. A lane
        # already due (a backlog) is never pushed back.
        self.linger = linger
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

    def add_many(
        self,
        batch: Sequence[NewEvent],
        now: datetime,
        also: Callable[[Connection], object] | None = None,
    ) -> list[bool]:
        """Store events in one transaction (one fsync); for each, whether it was new.

        Group commit is what lets the webhook endpoint acknowledge hundreds of events a second
        with every acknowledged one on disk. `also` runs in the same transaction (change
        capture moves its replay position with the events it stores).
        """
        if not batch:
            if also is not None:
                with self._write(urgent=True) as conn:
                    also(conn)
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
            wake_now: dict[str, int] = {}
            for e in batch:
                if e.pending and e.event_id in inserted:
                    # captured Salesforce changes skip the linger: each is one Stripe request
                    # whatever comes with it, and a burst of them arrives in one transaction
                    lanes_to = wake_now if e.source in UNLINGERED_SOURCES else wake
                    lanes_to[e.lane] = min(lanes_to.get(e.lane, e.created), e.created)
            self._wake_lanes(conn, wake, now, linger=self.linger)
            self._wake_lanes(conn, wake_now, now)
            if also is not None:
                also(conn)
        seen: set[str] = set()
        result = []
        for e in batch:
            result.append(e.event_id in inserted and e.event_id not in seen)
            seen.add(e.event_id)
        return result

    def _wake_lanes(
        self,
        conn: Connection,
        heads: Mapping[str, int],
        now: datetime,
        linger: timedelta = timedelta(0),
    ) -> None:
        """Make lanes due now (or `linger` from now, unless already due sooner), each earlier
        in the queue if its new event is older than its head; one statement for the whole
        batch (a round trip per lane would cost more than the insert of the events)."""
        if not heads:
            return
        ins = dialect_insert(conn)(lanes).values(
            [
                {"lane": lane, "next_due_at": now + linger, "head_created": created}
                for lane, created in sorted(heads.items())  # one lock order for every writer
            ]
        )
        head, new = lanes.c.head_created, ins.excluded.head_created
        due, wanted = lanes.c.next_due_at, ins.excluded.next_due_at
        next_due = case((or_(due.is_(None), due > wanted), wanted), else_=due) if linger else wanted
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["lane"],
                set_={
                    "next_due_at": next_due,
                    "head_created": case((or_(head.is_(None), head > new), new), else_=head),
                },
            )
        )

    # -- claiming ---------------------------------------------------------------------------

    # -- the batch pipeline -----------------------------------------------------------------

    def claim_batch(
        self, owner: str, now: datetime, lease: timedelta, lanes_max: int, per_lane: int
    ) -> list[LaneClaim]:
        """Lease up to `lanes_max` due lanes (oldest head first), each with its consecutive due
        events in order (at most `per_lane`), in one transaction. On PostgreSQL lanes other
        workers are claiming are skipped (`FOR UPDATE SKIP LOCKED`), so workers never wait for
        each other here."""
        with self._write() as conn:
            candidates = list(conn.execute(_DUE_LANES.limit(lanes_max), {"now": now}).scalars())
            if not candidates:
                return []
            taken = set(
                conn.execute(
                    _TAKE_LANES,
                    {"lane_keys": candidates, "now": now, "owner": owner, "expires": now + lease},
                ).scalars()
            )
            if not taken:
                return []
            rows = conn.execute(
                _PENDING_OF_LANES, {"lane_keys": sorted(taken), "per_lane": per_lane}
            ).all()
        by_lane: dict[str, list[StoredEvent]] = {lane: [] for lane in candidates if lane in taken}
        for row in rows:
            by_lane[row.lane].append(_row_to_event(row))
        return [
            LaneClaim(lane, tuple(ready_prefix(found, now, lambda e: e.due)))
            for lane, found in by_lane.items()
        ]

    def renew_many(
        self, lanes_held: Iterable[str], owner: str, now: datetime, lease: timedelta
    ) -> set[str]:
        """Extend the leases we hold, in one transaction; the lanes still ours."""
        wanted = sorted(set(lanes_held))
        if not wanted:
            return set()
        with self._write() as conn:
            return self._renew_many(conn, wanted, owner, now, lease)

    def _renew_many(
        self, conn: Connection, wanted: Sequence[str], owner: str, now: datetime, lease: timedelta
    ) -> set[str]:
        conn.execute(_LOCK_LANES, {"lane_keys": list(wanted)}).all()
        params = {"lane_keys": list(wanted), "owner": owner, "expires": now + lease}
        return set(conn.execute(_RENEW_LANES, params).scalars())

    def record(
        self,
        owner: str,
        now: datetime,
        lease: timedelta,
        finished: Sequence[Finished],
        release: Iterable[str] = (),
    ) -> set[str]:
        """Record a batch's outcomes in one transaction: completions (with their ledger
        raises), moves, retries, deferrals and dead letters, their attempts,
        ONE extension of the audit chain for the whole batch, and the lanes in `release` given
        back (each due when its head is). Only lanes whose lease we still hold are written
        (the renewal locks their rows first, so an event stored meanwhile is seen by the
        release or wakes the lane after we commit); of the others only the audit records are
        kept (their writes were made all the same: the trail must show them, and the events
        stay pending for the lane's new holder). Returns the lanes whose lease was lost."""
        involved = sorted({f.event.lane for f in finished} | set(release))
        audit_records: list[AuditRecord] = []
        with self._write() as conn:
            held = self._renew_many(conn, involved, owner, now, lease) if involved else set()
            ledger_rows: dict[str, tuple[int, str]] = {}
            done_rows: list[dict[str, Any]] = []
            attempt_rows: list[dict[str, Any]] = []
            wake: dict[str, int] = {}
            for f in finished:
                if f.applied is not None:
                    audit_records.extend(f.applied.audit_records)
                if f.event.lane not in held:
                    continue
                if f.outcome == DONE:
                    applied = f.applied or Applied()
                    for obj, ts in applied.ledger_updates.items():
                        if obj not in ledger_rows or ledger_rows[obj][0] < ts:
                            ledger_rows[obj] = (ts, f.event.event_id)
                    done_rows.append({"row_id": f.event.id, "now": now})
                elif f.outcome == "moved":
                    moved = conn.execute(
                        update(events)
                        .where(events.c.id == f.event.id, events.c.state == PENDING)
                        .values(lane=f.lane_to)
                    ).rowcount
                    if not moved or f.lane_to is None:
                        continue
                    wake[f.lane_to] = min(wake.get(f.lane_to, f.event.created), f.event.created)
                elif f.outcome in (DEFERRED, HELD):
                    kind = DEFERRED_KIND if f.outcome == DEFERRED else HELD_KIND
                    conn.execute(
                        update(events)
                        .where(events.c.id == f.event.id, events.c.state == PENDING)
                        .values(next_attempt_at=f.at, last_error=f.error, error_kind=kind)
                    )
                    continue  # no attempt is counted
                else:  # retry or dead
                    values: dict[str, Any] = (
                        {"next_attempt_at": f.at}
                        if f.outcome == "retry"
                        else {"state": DEAD, "processed_at": now, "next_attempt_at": None}
                    )
                    changed = conn.execute(
                        update(events)
                        .where(events.c.id == f.event.id, events.c.state == PENDING)
                        .values(
                            attempts=events.c.attempts + 1,
                            last_error=f.error,
                            error_kind=f.kind,
                            **values,
                        )
                    ).rowcount
                    if changed != 1:
                        continue
                attempt_rows.append(
                    {
                        "event_id": f.event.event_id,
                        "attempt": f.event.attempts + 1,
                        "worker": owner,
                        "started_at": f.started,
                        "finished_at": now,
                        "outcome": f.outcome,
                        "error": f.error if f.outcome != "moved" else f"to lane {f.lane_to}",
                        "error_kind": f.kind,
                    }
                )
            if ledger_rows:
                ledger.raise_rows(conn, ledger_rows, now)
            audit_trail.append(conn, audit_records)
            if done_rows:
                conn.execute(_DONE, done_rows)
            if attempt_rows:
                conn.execute(_ATTEMPT, attempt_rows)
            if wake:
                self._wake_lanes(conn, wake, now)
            self._release_many(conn, [lane for lane in sorted(set(release)) if lane in held], owner)
        return set(involved) - held

    def release_many(self, lanes_held: Iterable[str], owner: str) -> None:
        """Give lanes back in one transaction, each due when its head is (None when empty)."""
        wanted = sorted(set(lanes_held))
        if not wanted:
            return
        with self._write() as conn:
            conn.execute(_LOCK_LANES, {"lane_keys": wanted}).all()
            self._release_many(conn, wanted, owner)

    def _release_many(self, conn: Connection, wanted: Sequence[str], owner: str) -> None:
        if not wanted:
            return
        heads = {
            row.lane: row
            for row in conn.execute(_PENDING_OF_LANES, {"lane_keys": list(wanted), "per_lane": 1})
        }
        conn.execute(
            _RELEASE,
            [
                {
                    "lane_key": lane,
                    "owner": owner,
                    "due": heads[lane].next_attempt_at if lane in heads else None,
                    "head": heads[lane].created if lane in heads else None,
                }
                for lane in wanted
            ],
        )

    # -- outcomes ----------------------------------------------------------------------------

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
