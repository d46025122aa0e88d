"""Which Stripe objects an event is about, once the lookups have been folded in.

Shared by `lookups` (what to fetch) and the flows (what to write) so that both read the
same object: the refetched one when I/O refetched it, else the event payload.

Charges are never final (Stripe's sync-engine practice): a refund or a dispute can come weeks
after a charge succeeded, and `charge.succeeded`, `charge.refunded`, `charge.dispute.created`
and `payment_intent.succeeded` of one charge often carry the same `created` second, so neither
their `created` nor their arrival order says which payload is newest. Every event of the
payment flows therefore refetches what it writes from (one Stripe GET each, no Salesforce
call): a `charge.*` event its charge, `payment_intent.succeeded` its latest charge (the intent
itself only when it names none), a dispute event its dispute with the charge expanded. The
payment record is written from that fresh charge, so whichever of these events is applied
last writes the newest state, in any order. The ledger's late-event rule (`ordering`) stays
right for fresh writes: the ledger keeps the `created` of the event applied, the state
written was read after that event existed, so an event older than the ledger is already
reflected and is skipped without a call, and an event of the same second is applied again
(with a refetch of its own). With `[sync] refetch = "never"` payloads are written as they
come and same-second order is not guaranteed.

Unknown subjects (`unknown_to_stripe`): when Stripe answers 404 for the object the event is
about (the refetch) or for its customer, the event is forged, of another account or mode,
or its object was removed: nothing is written and the plan says why (the event ends done,
with the reason in the audit trail; it is neither retried nor dead-lettered). A deleted
customer is not a 404: Stripe answers `{"deleted": true}` and the deletion is marked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import LookupKind, PlanContext
from stripe2sf.domain.events import EventView
from stripe2sf.domain.paths import id_of
from stripe2sf.domain.stripe_views import CustomerView, customer_view, payment_intent_view

FINAL_STATES: dict[str, frozenset[str]] = {
    "subscription": frozenset({"canceled", "incomplete_expired"}),
    "invoice": frozenset({"paid", "void", "uncollectible"}),
}
MUTABLE_TYPES = frozenset({"subscription", "customer", "invoice"})
# Never final: refetched whatever their status (see the module docstring).
PAYMENT_TYPES = frozenset({"charge", "dispute", "payment_intent"})
# What a refetch of these types expands, so that one GET answers all the flow needs.
REFETCH_EXPAND: dict[str, tuple[str, ...]] = {"dispute": ("charge",)}


def refetch_key(event: EventView) -> str:
    """`<object type>:<id>` of what the event is refetched as: its own object, except a
    payment intent, whose latest charge is what the payment record is written from."""
    if event.object_type == "payment_intent":
        charge_id = payment_intent_view(event.object).latest_charge_id
        if charge_id:
            return f"charge:{charge_id}"
    return _own_key(event)


def _own_key(event: EventView) -> str:
    return f"{event.object_type}:{event.object_id}"


def parse_refetch_key(key: str) -> tuple[str, str, tuple[str, ...]]:
    """(object type, id, fields to expand) of a STRIPE_REFETCH lookup key."""
    object_type, _, object_id = key.partition(":")
    return object_type, object_id, REFETCH_EXPAND.get(object_type, ())


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
    if policy == "always" or event.object_type in PAYMENT_TYPES:
        return True
    if event.object_type not in MUTABLE_TYPES:
        return False
    status = event.object.get("status")
    return not (isinstance(status, str) and status in FINAL_STATES.get(event.object_type, ()))


def effective_object(event: EventView, ctx: PlanContext) -> Mapping[str, Any]:
    """The refetched object when I/O refetched it (and found it), else the payload."""
    fresh = ctx.stripe(LookupKind.STRIPE_REFETCH, _own_key(event))
    return fresh if fresh is not None else event.object


def fresh_charge(event: EventView, ctx: PlanContext) -> Mapping[str, Any] | None:
    """The charge of a payment-flow event as Stripe answers it now, or None when it was not
    read: the refetched charge, the charge expanded in the refetched dispute, or (a dispute
    whose refetch did not expand it) the charge read by id."""
    if event.object_type in ("charge", "payment_intent"):
        key = refetch_key(event)
        return ctx.stripe(LookupKind.STRIPE_REFETCH, key) if key.startswith("charge:") else None
    if event.object_type == "dispute":
        raw = effective_object(event, ctx).get("charge")
        if isinstance(raw, Mapping):
            return raw
        charge_id = id_of(raw)
        return ctx.stripe(LookupKind.STRIPE_CHARGE, charge_id) if charge_id else None
    return None


def invoice_unnamed(obj: Mapping[str, Any]) -> str | None:
    """The payment intent whose invoice must be asked for: a charge or payment intent of API
    2025-03-31.basil or later, which no longer names its invoice (the `invoice` key is gone,
    not null: null says it paid none). None when the object names it or is something else."""
    if "invoice" in obj:
        return None
    if obj.get("object") == "charge":
        return id_of(obj.get("payment_intent"))
    if obj.get("object") == "payment_intent":
        return id_of(obj.get("id"))
    return None


def unknown_to_stripe(event: EventView, ctx: PlanContext) -> str | None:
    """Why nothing may be written because Stripe answered 404 for the event's subject (its
    refetch) or its customer; None otherwise. A lookup not done is not a 404."""
    key = refetch_key(event)
    if ctx.has(LookupKind.STRIPE_REFETCH, key) and ctx.get(LookupKind.STRIPE_REFETCH, key) is None:
        object_type, object_id, _ = parse_refetch_key(key)
        return (
            f"Stripe does not know {object_type} {object_id} (404): nothing written; the event "
            "is forged, of another Stripe account or mode, or its object was removed"
        )
    cid = customer_id_for(event, ctx)
    if (
        cid
        and ctx.has(LookupKind.STRIPE_CUSTOMER, cid)
        and ctx.get(LookupKind.STRIPE_CUSTOMER, cid) is None
    ):
        return (
            f"Stripe does not know customer {cid} (404): nothing written; the event is forged "
            "or of another Stripe account or mode"
        )
    return None


def customer_id_for(event: EventView, ctx: PlanContext) -> str | None:
    """The Stripe customer of the event; for disputes through the (fetched) charge."""
    if event.customer_id:
        return event.customer_id
    if event.object_type == "dispute":
        charge = fresh_charge(event, ctx)
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
