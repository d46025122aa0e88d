"""A late event never overwrites newer state.

The sync ledger remembers, per Stripe object, the Stripe timestamp (`event.created`) its
Salesforce state was last written from. An event older than that is late and changes
nothing; an equal timestamp is applied again (the same event twice is idempotent).

`created` has a resolution of one second, and several events of one charge (succeeded,
refunded, dispute created, the intent succeeded) often share it, so the ledger alone cannot
order them: payment events are written from the charge refetched from Stripe instead (see
`subjects`). The rule stays right for such fresh writes: the state written was read after
the event whose `created` the ledger keeps, so an older event (a late duplicate delivery, an
old event catch-up adds after newer ones were applied) is already reflected and is skipped
without a Stripe call, and an event of the same second is applied again, from a fresh read.
A payment intent is late when its own object or the charge it writes is newer in the ledger.
"""

from __future__ import annotations

from stripe2sf.domain.context import PlanContext
from stripe2sf.domain.events import EventView
from stripe2sf.domain.stripe_views import payment_intent_view


def ledger_keys(event: EventView) -> tuple[str, ...]:
    """The ledger entries that decide whether the event is late: its object, and the charge
    a payment intent writes."""
    if not event.object_id:
        return ()
    if event.object_type == "payment_intent":
        charge_id = payment_intent_view(event.object).latest_charge_id
        if charge_id:
            return (event.object_id, charge_id)
    return (event.object_id,)


def late_event_reason(event: EventView, ctx: PlanContext) -> str | None:
    """Why the event is too old to apply, or None when it may be applied."""
    for key in ledger_keys(event):
        written_from = ctx.ledger(key)
        if written_from is not None and event.created < written_from:
            return (
                f"late event: {key} was already written from Stripe state at "
                f"{written_from}, newer than this event ({event.created})"
            )
    return None
