"""Which Stripe objects an event is about, once the lookups have been folded in.

Shared by `lookups` (what to fetch) and the flows (what to write) so that both read the
same object: the refetched one when I/O refetched it, else the event payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import LookupKind, PlanContext
from stripe2sf.domain.events import EventView
from stripe2sf.domain.paths import id_of
from stripe2sf.domain.stripe_views import CustomerView, customer_view

FINAL_STATES: dict[str, frozenset[str]] = {
    "subscription": frozenset({"canceled", "incomplete_expired"}),
    "invoice": frozenset({"paid", "void", "uncollectible"}),
}
MUTABLE_TYPES = frozenset({"subscription", "customer", "invoice"})


def refetch_key(event: EventView) -> str:
    return f"{event.object_type}:{event.object_id}"


def payload_may_be_stale(event: EventView, config: SyncConfig) -> bool:
    """Whether the event's object should be refetched from Stripe before planning.

    Stripe's own sync engine refetches objects that can still change; an object in a final
    state (canceled subscription, paid invoice, deleted customer) cannot be stale.
    """
    policy = config.sync.refetch
    if policy == "never" or not event.object_id:
        return False
    if event.type.endswith(".deleted") or event.object.get("deleted"):
        return False
    if policy == "always":
        return True
    if event.object_type not in MUTABLE_TYPES:
        return False
    status = event.object.get("status")
    return not (isinstance(status, str) and status in FINAL_STATES.get(event.object_type, ()))


def effective_object(event: EventView, ctx: PlanContext) -> Mapping[str, Any]:
    """The refetched object when I/O refetched it (and found it), else the payload."""
    fresh = ctx.stripe(LookupKind.STRIPE_REFETCH, refetch_key(event))
    return fresh if fresh is not None else event.object


def customer_id_for(event: EventView, ctx: PlanContext) -> str | None:
    """The Stripe customer of the event; for disputes through the (fetched) charge."""
    if event.customer_id:
        return event.customer_id
    if event.object_type == "dispute":
        charge_id = id_of(event.object.get("charge"))
        charge = ctx.stripe(LookupKind.STRIPE_CHARGE, charge_id) if charge_id else None
        if charge is not None:
            return id_of(charge.get("customer"))
    return None


def customer_for(event: EventView, ctx: PlanContext) -> CustomerView | None:
    """The Stripe customer object: the event's own, else the fetched one."""
    if event.object_type == "customer":
        return customer_view(effective_object(event, ctx))
    cid = customer_id_for(event, ctx)
    if not cid:
        return None
    obj = ctx.stripe(LookupKind.STRIPE_CUSTOMER, cid)
    return customer_view(obj) if obj is not None else None
