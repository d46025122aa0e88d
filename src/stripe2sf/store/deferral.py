"""The API budget's store operations: defer an event without counting an attempt, and find the
events behind a deferred lane head that may still go (failed payments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from stripe2sf.store.inbox import PENDING, StoredEvent, _row_to_event
from stripe2sf.store.tables import events, lanes

DEFERRED_KIND = "budget.deferred"


def defer(
    engine: Engine,
    event: StoredEvent,
    owner: str,
    now: datetime,
    until: datetime,
    reason: str,
    lease_until: datetime,
) -> bool:
    """The event waits until `until`; attempts unchanged. False if the lease was lost."""
    with engine.begin() as conn:
        held = conn.execute(
            update(lanes)
            .where(lanes.c.lane == event.lane, lanes.c.lease_owner == owner)
            .values(lease_expires_at=lease_until)
        ).rowcount
        if held != 1:
            return False
        conn.execute(
            update(events)
            .where(events.c.id == event.id, events.c.state == PENDING)
            .values(next_attempt_at=until, last_error=reason, error_kind=DEFERRED_KIND)
        )
        return True


def behind_deferred_head(
    engine: Engine, lane: str, now: datetime, limit: int = 50
) -> list[StoredEvent]:
    """When the lane's head waits for the API budget: the due events behind it, oldest first
    (the worker applies those the budget still allows; the sync ledger keeps a late write from
    overwriting newer state). Empty otherwise, so lanes keep their order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(events)
            .where(events.c.lane == lane, events.c.state == PENDING)
            .order_by(events.c.created, events.c.id)
            .limit(limit)
        ).all()
    if not rows or rows[0].error_kind != DEFERRED_KIND:
        return []
    return [
        _row_to_event(r)
        for r in rows[1:]
        if r.error_kind != DEFERRED_KIND and (r.next_attempt_at is None or r.next_attempt_at <= now)
    ]


def source_of(engine: Engine, event_id: str) -> str:
    with engine.connect() as conn:
        value = conn.execute(select(events.c.source).where(events.c.event_id == event_id)).scalar()
    return str(value or "webhook")
