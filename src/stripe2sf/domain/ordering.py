"""A late event never overwrites newer state.

The sync ledger remembers, per Stripe object, the Stripe timestamp (`event.created`) its
Salesforce state was last written from. An event older than that is late and changes
nothing; an equal timestamp is applied again (the same event twice is idempotent).
"""

from __future__ import annotations

from stripe2sf.domain.context import PlanContext
from stripe2sf.domain.events import EventView


def late_event_reason(event: EventView, ctx: PlanContext) -> str | None:
    """Why the event is too old to apply, or None when it may be applied."""
    if not event.object_id:
        return None
    written_from = ctx.ledger(event.object_id)
    if written_from is not None and event.created < written_from:
        return (
            f"late event: {event.object_id} was already written from Stripe state at "
            f"{written_from}, newer than this event ({event.created})"
        )
    return None
