"""Deferring an event without counting an attempt (the API budget's way to make work wait)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select, update

from stripe2sf.store.inbox import PENDING, StoredEvent
from stripe2sf.store.tables import events, lanes

DEFERRED_KIND = "budget.deferred"


def defer(
    engine: Engine, event: StoredEvent, owner: str, now: datetime, until: datetime, reason: str
) -> bool:
    """The lane's head waits until `until`; attempts unchanged. False if the lease was lost."""
    with engine.begin() as conn:
        held = conn.execute(
            update(lanes)
            .where(lanes.c.lane == event.lane, lanes.c.lease_owner == owner)
            .values(lease_expires_at=now)
        ).rowcount
        if held != 1:
            return False
        conn.execute(
            update(events)
            .where(events.c.id == event.id, events.c.state == PENDING)
            .values(next_attempt_at=until, last_error=reason, error_kind=DEFERRED_KIND)
        )
        return True


def source_of(engine: Engine, event_id: str) -> str:
    with engine.connect() as conn:
        value = conn.execute(select(events.c.source).where(events.c.event_id == event_id)).scalar()
    return str(value or "webhook")
