"""Capture state on disk (migrations 0007, 0011): where each Change Data Capture channel is (its
replay id), how far each polled object is (its watermark) with the last values seen per
record, and which Stripe customer a Salesforce record belongs to.

`CaptureStore.store` writes a batch of captured changes into the inbox AND moves the position
in one transaction: a process killed at any moment either stored both or neither, so on
restart it resumes from the stored replay id with nothing missed, and a change delivered again
is the same inbox event id (stored once).

    capture_positions   channel (/data/ContactChangeEvent) -> replay id (hex), the newest
                        commit time captured, counts
    poll_watermarks     object -> newest SystemModstamp seen, when polling began
    poll_snapshots      (object, record id) -> its SystemModstamp and watched values (JSON)
    capture_counters    (channel or ``poll:<Object>``, counter) -> total, when it last moved:
                        ``own`` (stripe2sf's own changes dropped), ``recovered`` (catch-up
                        rounds run and GAP events filled)

A channel row without a replay id holds the time its first start subscribed (stored before
subscribing) or, after Salesforce refused its replay id, the newest change stored: the time
up to which capture is complete, where a catch-up round starts (`domain.capture.recovery`).
The counters move in the same transaction as the changes they count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Index, String, Table, Text, select
from sqlalchemy.engine import Connection

from stripe2sf.domain.capture.change import SalesforceChange
from stripe2sf.domain.capture.polling import Snapshot
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.inbox import Inbox, NewEvent
from stripe2sf.store.links import customer_links
from stripe2sf.store.tables import UTCDateTime, metadata

capture_positions = Table(
    "capture_positions",
    metadata,
    Column("channel", String(255), primary_key=True),
    Column("replay_id", String(255)),  # hex of the opaque bytes the Pub/Sub API gave
    Column("last_commit_ms", BigInteger),  # commit time of the newest change captured
    Column("events", BigInteger, nullable=False, default=0),  # changes stored through it
    Column("updated_at", UTCDateTime, nullable=False),
)

poll_watermarks = Table(
    "poll_watermarks",
    metadata,
    Column("entity", String(255), primary_key=True),
    Column("watermark_ms", BigInteger),  # the newest SystemModstamp seen
    Column("started_ms", BigInteger, nullable=False),  # when polling this object began
    Column("events", BigInteger, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
)

capture_counters = Table(
    "capture_counters",
    metadata,
    Column("channel", String(255), primary_key=True),  # a CDC channel or poll:<Object>
    Column("name", String(32), primary_key=True),  # own, recovered
    Column("total", BigInteger, nullable=False, default=0),
    Column("last_at", UTCDateTime, nullable=False),  # when it last moved
)

poll_snapshots = Table(
    "poll_snapshots",
    metadata,
    Column("entity", String(255), primary_key=True),
    Column("record_id", String(32), primary_key=True),
    Column("modstamp_ms", BigInteger, nullable=False),
    Column("fields", Text, nullable=False),  # JSON: watched field -> last value seen
    Column("updated_at", UTCDateTime, nullable=False),
)

# Record id -> customer: captured changes look their records up by these (0007 creates them).
Index("ix_customer_links_account_id", customer_links.c.account_id)
Index("ix_customer_links_contact_id", customer_links.c.contact_id)

_PAGE = 500

OWN_DROPPED = "own"  # stripe2sf's own changes dropped
RECOVERED = "recovered"  # catch-up rounds run and GAP events filled

CounterKey = tuple[str, str]
"""(channel or ``poll:<Object>``, counter name)"""


@dataclass(frozen=True)
class ChannelState:
    channel: str
    replay_id: str | None
    last_commit_ms: int | None
    events: int
    updated_at: datetime


@dataclass(frozen=True)
class Count:
    channel: str
    name: str
    total: int
    last_at: datetime


@dataclass(frozen=True)
class Watermark:
    entity: str
    watermark_ms: int | None
    started_ms: int
    events: int
    updated_at: datetime


def to_new_event(change: SalesforceChange, handled: bool, api_version: str | None) -> NewEvent:
    """The inbox row of a captured change (its envelope: see `domain.capture.change`)."""
    return NewEvent(
        event_id=change.event_id,
        type=change.type,
        lane=change.lane,
        created=change.created,
        livemode=False,
        api_version=api_version,
        payload_text=json.dumps(change.to_payload(), sort_keys=True, default=str),
        handled=handled,
        source=change.source,
    )


class CaptureStore:
    def __init__(self, engine: Engine, inbox: Inbox) -> None:
        self.engine = engine
        self.inbox = inbox

    # -- record id -> Stripe customer ------------------------------------------------------
    def customers_of(self, record_ids: Iterable[str]) -> dict[str, str]:
        """Record id (Account or Contact, 15 or 18 characters) -> its linked Stripe customer."""
        wanted = sorted({r for r in record_ids if r})
        if not wanted:
            return {}
        # customer_links holds the 18-character ids REST returns; 15-character ids are
        # matched on their prefix below.
        keys = sorted({r for r in wanted if len(r) == 18})
        short = {r for r in wanted if len(r) != 18}
        found: dict[str, str] = {}
        c = customer_links.c
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _PAGE):
                page = keys[i : i + _PAGE]
                for row in conn.execute(
                    select(c.customer_id, c.account_id, c.contact_id).where(
                        c.account_id.in_(page) | c.contact_id.in_(page)
                    )
                ):
                    for rid in (row.account_id, row.contact_id):
                        if rid in page:
                            found.setdefault(rid, row.customer_id)
            for rid in sorted(short):
                hit = conn.execute(
                    select(c.customer_id)
                    .where(c.account_id.like(f"{rid}%") | c.contact_id.like(f"{rid}%"))
                    .order_by(c.customer_id)
                    .limit(1)
                ).first()
                if hit is not None:
                    found[rid] = hit.customer_id
        return found

    # -- one transaction: the inbox and the position --------------------------------------
    def store(
        self,
        events: Sequence[NewEvent],
        now: datetime,
        *,
        channel: str | None = None,
        replay_id: str | None = None,
        last_commit_ms: int | None = None,
        poll_entity: str | None = None,
        watermark_ms: int | None = None,
        snapshots: Mapping[str, Snapshot] | None = None,
        counters: Mapping[CounterKey, int] | None = None,
    ) -> list[bool]:
        """Store `events` in the inbox and move the channel's replay id (CDC) or the object's
        watermark and snapshots (polling), and add to `counters` ((channel, name) -> n), all
        in one transaction; for each event, whether it was new."""

        def position(conn: Connection) -> None:
            for (key, name), n in sorted((counters or {}).items()):
                if n:
                    self._add_count(conn, key, name, n, now)
            if channel is not None:
                self._move_channel(conn, channel, replay_id, last_commit_ms, len(events), now)
            if poll_entity is not None:
                self._move_watermark(conn, poll_entity, watermark_ms, len(events), now)
                self._save_snapshots(conn, poll_entity, snapshots or {}, now)

        return self.inbox.add_many(events, now, also=position)

    def _move_channel(
        self,
        conn: Connection,
        channel: str,
        replay_id: str | None,
        last_commit_ms: int | None,
        added: int,
        now: datetime,
    ) -> None:
        t = capture_positions
        ins = dialect_insert(conn)(t).values(
            channel=channel,
            replay_id=replay_id,
            last_commit_ms=last_commit_ms,
            events=added,
            updated_at=now,
        )
        updates: dict[str, Any] = {"events": t.c.events + added, "updated_at": now}
        if replay_id is not None:
            updates["replay_id"] = replay_id
        if last_commit_ms is not None:
            updates["last_commit_ms"] = last_commit_ms
        conn.execute(ins.on_conflict_do_update(index_elements=["channel"], set_=updates))

    def _add_count(self, conn: Connection, key: str, name: str, n: int, now: datetime) -> None:
        t = capture_counters
        ins = dialect_insert(conn)(t).values(channel=key, name=name, total=n, last_at=now)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["channel", "name"],
                set_={"total": t.c.total + n, "last_at": now},
            )
        )

    def _move_watermark(
        self, conn: Connection, entity: str, watermark_ms: int | None, added: int, now: datetime
    ) -> None:
        t = poll_watermarks
        updates: dict[str, Any] = {"events": t.c.events + added, "updated_at": now}
        if watermark_ms is not None:
            updates["watermark_ms"] = watermark_ms
        conn.execute(t.update().where(t.c.entity == entity).values(**updates))

    def _save_snapshots(
        self, conn: Connection, entity: str, snapshots: Mapping[str, Snapshot], now: datetime
    ) -> None:
        if not snapshots:
            return
        rows = [
            {
                "entity": entity,
                "record_id": rid,
                "modstamp_ms": snap.modstamp_ms,
                "fields": json.dumps(dict(snap.values), sort_keys=True, default=str),
                "updated_at": now,
            }
            for rid, snap in sorted(snapshots.items())
        ]
        ins = dialect_insert(conn)(poll_snapshots)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=["entity", "record_id"],
                set_={
                    "modstamp_ms": ins.excluded.modstamp_ms,
                    "fields": ins.excluded.fields,
                    "updated_at": ins.excluded.updated_at,
                },
            ),
            rows,
        )

    def start(self, channel: str, now_ms: int) -> bool:
        """A first start's position, stored before subscribing: no replay id, complete up to
        `now_ms`. False when the channel already has a row (left as it is)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                dialect_insert(conn)(capture_positions)
                .values(
                    channel=channel,
                    replay_id=None,
                    last_commit_ms=now_ms,
                    events=0,
                    updated_at=_now(),
                )
                .on_conflict_do_nothing(index_elements=["channel"])
                .returning(capture_positions.c.channel)
            )
            return done.first() is not None

    def forget_replay(self, channel: str) -> None:
        """Salesforce refused the stored replay id (too old, corrupt): drop it, keeping where
        the channel was complete (where the catch-up starts): the newest change's time, or,
        for a channel that never stored one, when its position was last saved (a keepalive:
        every change up to it had come)."""
        t = capture_positions
        with self.engine.begin() as conn:
            row = conn.execute(select(t).where(t.c.channel == channel)).first()
            if row is None:
                return
            state = _channel(row)
            complete = state.last_commit_ms
            if complete is None:
                complete = int(state.updated_at.timestamp() * 1000)
            conn.execute(
                t.update()
                .where(t.c.channel == channel)
                .values(replay_id=None, last_commit_ms=complete, updated_at=_now())
            )

    # -- reads ------------------------------------------------------------------------------
    def channel(self, channel: str) -> ChannelState | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(capture_positions).where(capture_positions.c.channel == channel)
            ).first()
        return _channel(row) if row is not None else None

    def channels(self) -> list[ChannelState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(capture_positions).order_by(capture_positions.c.channel))
            return [_channel(r) for r in rows]

    def counters(self) -> dict[CounterKey, Count]:
        """(channel or ``poll:<Object>``, counter name) -> its count and when it last moved."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(capture_counters))
            return {
                (r.channel, r.name): Count(r.channel, r.name, int(r.total), r.last_at) for r in rows
            }

    def watermark(self, entity: str, now_ms: int) -> Watermark:
        """The object's watermark; the first call records `now_ms` as when polling began."""
        t = poll_watermarks
        with self.engine.begin() as conn:
            conn.execute(
                dialect_insert(conn)(t)
                .values(entity=entity, started_ms=now_ms, events=0, updated_at=_now())
                .on_conflict_do_nothing(index_elements=["entity"])
            )
            row = conn.execute(select(t).where(t.c.entity == entity)).one()
        return _watermark(row)

    def watermarks(self) -> list[Watermark]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(poll_watermarks).order_by(poll_watermarks.c.entity))
            return [_watermark(r) for r in rows]

    def snapshots(self, entity: str, record_ids: Iterable[str]) -> dict[str, Snapshot]:
        ids = sorted(set(record_ids))
        out: dict[str, Snapshot] = {}
        t = poll_snapshots.c
        with self.engine.connect() as conn:
            for i in range(0, len(ids), _PAGE):
                rows = conn.execute(
                    select(poll_snapshots).where(
                        t.entity == entity, t.record_id.in_(ids[i : i + _PAGE])
                    )
                )
                for r in rows:
                    out[r.record_id] = Snapshot(int(r.modstamp_ms), json.loads(r.fields))
        return out


def _now() -> datetime:
    return datetime.now(UTC)


def _channel(row: Any) -> ChannelState:
    return ChannelState(
        row.channel, row.replay_id, row.last_commit_ms, int(row.events or 0), row.updated_at
    )


def _watermark(row: Any) -> Watermark:
    return Watermark(
        row.entity, row.watermark_ms, int(row.started_ms), int(row.events or 0), row.updated_at
    )
