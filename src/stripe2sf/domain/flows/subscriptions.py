"""customer.subscription.*: the Account's subscription status, plan, quantity, MRR, ..."""

from __future__ import annotations

from stripe2sf.domain.context import LookupKind
from stripe2sf.domain.flows.builder import PlanBuilder
from stripe2sf.domain.flows.common import customer_records, refs
from stripe2sf.domain.flows.subjects import effective_object
from stripe2sf.domain.flows.subscription_summary import summarize
from stripe2sf.domain.operations import Operation
from stripe2sf.domain.paths import as_str
from stripe2sf.domain.sources import mapped_fields, subscription_sources
from stripe2sf.domain.stripe_views import SubscriptionView, subscription_view


def _product_names(b: PlanBuilder, subs: list[SubscriptionView]) -> dict[str, str]:
    names: dict[str, str] = {}
    for s in subs:
        for item in s.items:
            if item.product_id:
                product = b.ctx.stripe(LookupKind.STRIPE_PRODUCT, item.product_id)
                name = as_str(product.get("name")) if product else None
                if name:
                    names[item.product_id] = name
    return names


def plan_subscription(b: PlanBuilder) -> None:
    sub = subscription_view(effective_object(b.event, b.ctx))
    cid = sub.customer_id
    listed_raw = b.ctx.get(LookupKind.STRIPE_SUBSCRIPTIONS, cid) if cid else None
    if cid and listed_raw is None:
        b.assumptions.append(f"{cid} has no other subscriptions (list not fetched)")
    listed = [subscription_view(s) for s in (listed_raw or ())]
    # The list was read after the event, so its copy of this subscription is the fresher one.
    subs = [*listed, *([] if any(s.id == sub.id for s in listed) else [sub])]
    summary = summarize(subs, b.config.subscriptions.status_order)
    assert summary is not None
    names = _product_names(b, subs)
    cw = customer_records(b, cid, may_create=True)
    values = subscription_sources(
        summary.primary, product_names=names, status=summary.status, mrr=summary.mrr
    )
    fields = mapped_fields(
        b.config, "subscription", "Account", values, creating=False, notes=b.notes
    )
    why = (
        f"{b.event.type}: {sub.id} is {sub.status}; Account shows {summary.status} "
        f"(most important of {summary.count} subscription(s))"
    )
    b.merge_account_fields(cw, fields, why)
    if b.event.type == "customer.subscription.trial_will_end":
        b.notes.append(f"trial of {sub.id} ends at {sub.trial_end}")
    o = b.config.objects
    if b.config.subscriptions.per_subscription_records:
        own = subscription_sources(sub, effective_object(b.event, b.ctx), product_names=names)
        sub_fields = mapped_fields(
            b.config, "subscription", o.subscription_object, own, creating=True, notes=b.notes
        )
        b.add(
            Operation(
                "subscription",
                "upsert",
                o.subscription_object,
                o.subscription_key_field,
                sub.id,
                sub_fields,
                refs=refs(**{o.subscription_account_field: cw.account_ref}),
                depends_on=tuple(op.op_id for op in b.operations if op.sobject == "Account"),
                reason=f"{b.event.type}: subscription {sub.id}",
            )
        )
    b.touch(sub.id)
