"""Steps several flows share: resolving the customer's records, owners, dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stripe2sf.domain.context import LookupKind
from stripe2sf.domain.flows.builder import PlanBuilder
from stripe2sf.domain.flows.subjects import customer_for, effective_object
from stripe2sf.domain.matching.resolve import CustomerWrites, Resolution, customer_writes, resolve
from stripe2sf.domain.operations import RecordRef


def customer_records(
    b: PlanBuilder, customer_id: str | None, *, may_create: bool, sync_fields: bool = False
) -> CustomerWrites:
    """Resolve the customer and add the linking/creating writes to the plan.

    With `may_create` False only an already linked Account is used.
    """
    if not customer_id:
        b.notes.append("the event has no Stripe customer; no Account or Contact involved")
        return CustomerWrites()
    customer = customer_for(b.event, b.ctx)
    raw = None
    if b.event.object_type == "customer":
        raw = dict(effective_object(b.event, b.ctx))
    elif (fetched := b.ctx.stripe(LookupKind.STRIPE_CUSTOMER, customer_id)) is not None:
        raw = dict(fetched)
    if may_create:
        resolution = resolve(customer_id, customer, b.ctx, b.config)
    else:
        account = b.ctx.account_for(customer_id)
        if not b.ctx.has(LookupKind.SF_ACCOUNT_BY_CUSTOMER, customer_id):
            b.assumptions.append(f"no Account is linked to {customer_id} (lookup not done)")
        resolution = (
            Resolution("linked", f"Account {account.id} is linked", account)
            if account
            else Resolution("unmatched", f"no Account is linked to {customer_id}")
        )
    b.assumptions.extend(resolution.assumed)
    cw = customer_writes(
        customer_id,
        customer,
        resolution,
        b.ctx,
        b.config,
        sync_fields=sync_fields,
        customer_raw=raw,
    )
    b.add_customer_writes(cw)
    return cw


def owner_for(
    b: PlanBuilder, mode: str, queue: str | None, cw: CustomerWrites
) -> tuple[str | None, str]:
    """(OwnerId or None, explanation). None leaves Salesforce's default (the API user)."""
    if mode == "queue" and queue:
        qid = b.ctx.queue_id(queue)
        if qid:
            return qid, f"queue {queue}"
        if not b.ctx.has(LookupKind.SF_QUEUE, queue):
            b.assumptions.append(f"queue {queue!r} id unknown (lookup not done)")
        else:
            b.notes.append(f"queue {queue!r} not found in Salesforce; default owner used")
        return None, "default owner (queue not found)"
    if cw.account_owner_id:
        return cw.account_owner_id, "Account owner"
    return None, "default owner (Account owner unknown)"


def sf_date_after(ts: int, days: int) -> str:
    return (datetime.fromtimestamp(ts, UTC) + timedelta(days=days)).strftime("%Y-%m-%d")


def refs(**pairs: RecordRef | None) -> dict[str, RecordRef]:
    return {k: v for k, v in pairs.items() if v is not None}
