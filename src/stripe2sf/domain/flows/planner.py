"""The planner: an event plus what I/O found out -> Salesforce operations. No I/O.

    view = parse_event(raw)
    ctx = ...fold in lookups.lookups_needed(view, config, ctx)...
    plan = plan(view, ctx, config)       # Plan: operations, refusals, ledger updates

Ordering: see `ordering.late_event_reason`; a late event plans nothing. Payment events are
planned from the charge refetched from Stripe (see `subjects`), so same-second events of one
charge end in its newest state whatever their order. An event whose subject (or customer)
Stripe answers 404 for plans nothing, with the reason (`subjects.unknown_to_stripe`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig, default_config
from stripe2sf.domain.context import LookupKind, PlanContext
from stripe2sf.domain.events import EventView, parse_event
from stripe2sf.domain.flows.builder import PlanBuilder
from stripe2sf.domain.flows.customers import plan_customer, plan_payment_method
from stripe2sf.domain.flows.handled import Flow, flow_of
from stripe2sf.domain.flows.invoices import plan_invoice_failed, plan_invoice_paid
from stripe2sf.domain.flows.lookups import context_for
from stripe2sf.domain.flows.ordering import late_event_reason
from stripe2sf.domain.flows.payments import plan_dispute, plan_payment
from stripe2sf.domain.flows.subjects import unknown_to_stripe
from stripe2sf.domain.flows.subscriptions import plan_subscription
from stripe2sf.domain.operations import Plan

_FLOWS: dict[Flow, Callable[[PlanBuilder], None]] = {
    Flow.PAYMENT: plan_payment,
    Flow.DISPUTE: plan_dispute,
    Flow.SUBSCRIPTION: plan_subscription,
    Flow.INVOICE_FAILED: plan_invoice_failed,
    Flow.INVOICE_PAID: plan_invoice_paid,
    Flow.CUSTOMER: plan_customer,
    Flow.PAYMENT_METHOD: plan_payment_method,
}


def plan(
    event: EventView | Mapping[str, Any],
    ctx: PlanContext | None = None,
    config: SyncConfig | None = None,
) -> Plan:
    """Decide the Salesforce operations for one event (a parsed view or a raw event dict)."""
    view = event if isinstance(event, EventView) else parse_event(event)
    cfg = config or default_config()
    context = ctx or context_for(cfg)
    b = PlanBuilder(view, context, cfg)
    flow = flow_of(view.type)
    if flow is None:
        b.skipped.append(f"stripe2sf does not act on {view.type}")
        return b.build()
    late = late_event_reason(view, context)
    if late:
        b.skipped.append(late)
        return b.build()
    unknown = unknown_to_stripe(view, context)
    if unknown:
        b.skipped.append(unknown)
        return b.build()
    if view.object_id and not context.has(LookupKind.LEDGER, view.object_id):
        b.assumptions.append(f"{view.object_id} never synced before (ledger not read)")
    _FLOWS[flow](b)
    return b.build()
