"""customer.* and payment methods: Stripe-owned customer fields and the card on file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.context import LookupKind
from stripe2sf.domain.flows.builder import PlanBuilder
from stripe2sf.domain.flows.common import customer_records
from stripe2sf.domain.flows.lookups import default_pm_changed
from stripe2sf.domain.flows.subjects import customer_for, effective_object
from stripe2sf.domain.reverse.echo import is_own_key
from stripe2sf.domain.sources import mapped_fields, payment_method_sources
from stripe2sf.domain.stripe_views import (
    PaymentMethodView,
    expanded_default_card,
    payment_method_view,
)


def _card_fields(b: PlanBuilder, pm: PaymentMethodView) -> dict[str, object]:
    return mapped_fields(
        b.config,
        "payment_method",
        "Account",
        payment_method_sources(pm),
        creating=False,
        notes=b.notes,
    )


def plan_customer(b: PlanBuilder) -> None:
    cid = b.event.object_id
    # A customer.created/updated applied after the deletion (same second, late delivery,
    # catch-up) reads the customer back as `{"deleted": true}`: it marks, never unmarks.
    if b.event.type == "customer.deleted" or effective_object(b.event, b.ctx).get("deleted"):
        cw = customer_records(b, cid, may_create=False)
        if cw.account_ref is None:
            b.skipped.append(f"customer {cid} deleted in Stripe; no linked Account to mark")
        else:
            b.merge_account_fields(
                cw,
                mapped_fields(
                    b.config,
                    "customer",
                    "Account",
                    {"customer.deleted": True},
                    creating=False,
                    notes=b.notes,
                ),
                f"customer {cid} deleted in Stripe: marked, never deleted in Salesforce",
            )
        b.touch(cid)
        return
    if b.event.type == "customer.updated" and is_own_key(b.event.request_key):
        # stripe2sf wrote Salesforce's values to Stripe: nothing to write back (no echo)
        b.skipped.append(f"echo: {b.event.type} was caused by stripe2sf's own request")
        return
    cw = customer_records(b, cid, may_create=True, sync_fields=True)
    if b.event.type == "customer.updated" and default_pm_changed(b.event):
        customer = customer_for(b.event, b.ctx)
        pm_id = (
            customer.default_payment_method_id or customer.default_source_id if customer else None
        )
        expanded = expanded_default_card(b.event.object)  # a backfill snapshot carries it
        if expanded is not None and expanded.get("id") == pm_id:
            pm_raw: Mapping[str, Any] | None = expanded
        else:
            pm_raw = b.ctx.stripe(LookupKind.STRIPE_PAYMENT_METHOD, pm_id) if pm_id else None
        if pm_raw is None:
            b.assumptions.append("new default payment method not fetched; card unchanged")
        else:
            pm = payment_method_view(pm_raw)
            b.merge_account_fields(cw, _card_fields(b, pm), f"default payment method is {pm.id}")
    b.touch(cid)


def plan_payment_method(b: PlanBuilder) -> None:
    pm = payment_method_view(effective_object(b.event, b.ctx))
    if pm.type != "card" or not pm.card.last4:
        b.skipped.append(f"payment method {pm.id} is {pm.type}, not a card; nothing to show")
        return
    cid = pm.customer_id or b.event.customer_id
    customer = customer_for(b.event, b.ctx) if cid else None
    if customer is None:
        b.assumptions.append(f"customer of {pm.id} not fetched; assumed it is not the default")
        b.skipped.append(f"{pm.id} is not known to be the default payment method")
        return
    default = customer.default_payment_method_id or customer.default_source_id
    if default is not None and default != pm.id:
        b.skipped.append(f"{pm.id} is not the default payment method of {cid}; card unchanged")
        return
    cw = customer_records(b, cid, may_create=True)
    b.merge_account_fields(cw, _card_fields(b, pm), f"{b.event.type}: card {pm.id} on file")
    b.touch(pm.id)
