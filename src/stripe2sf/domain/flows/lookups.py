"""Which reads the I/O code must do before an event can be planned.

Call repeatedly: some reads depend on earlier answers (the Contact search needs the
customer's email, which may need the Stripe customer first). Each call returns only the
lookups whose answers are missing *and* needed given what is already known; an empty
answer means `planner.plan` has everything. Typical worker loop::

    ctx = PlanContext()
    while needed := lookups_needed(event, config, ctx):
        ctx = ctx.with_results({lookup: io.read(lookup) for lookup in needed})
    plan = planner.plan(event, ctx, config)
"""

from __future__ import annotations

from collections.abc import Callable

from stripe2sf.domain import soql
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import (
    FieldNames,
    Lookup,
    LookupKind,
    PlanContext,
    claim_key,
    normalize_email,
)
from stripe2sf.domain.events import EventView
from stripe2sf.domain.flows.handled import CREATING_FLOWS, Flow, flow_of
from stripe2sf.domain.flows.ordering import late_event_reason, ledger_keys
from stripe2sf.domain.flows.subjects import (
    customer_for,
    customer_id_for,
    effective_object,
    fresh_charge,
    invoice_unnamed,
    payload_may_be_stale,
    refetch_key,
    unknown_to_stripe,
)
from stripe2sf.domain.matching import duplicates
from stripe2sf.domain.matching.resolve import default_card_id, email_owners, website_host
from stripe2sf.domain.paths import get_path, id_of
from stripe2sf.domain.stripe_views import expanded_default_card, subscription_view


def _searchable(email: str | None) -> bool:
    return bool(email) and "@" in (email or "") and not any(ord(ch) < 32 for ch in email or "")


def _is_free_domain(domain: str, config: SyncConfig) -> bool:
    return domain in {d.lower() for d in config.matching.free_email_domains}


def default_pm_changed(event: EventView) -> bool:
    """customer.updated whose default payment method (or old default source) changed."""
    prev = event.previous_attributes or {}
    return "default_source" in prev or (
        isinstance(prev.get("invoice_settings"), dict)
        and "default_payment_method" in prev["invoice_settings"]
    )


def context_for(config: SyncConfig) -> PlanContext:
    """An empty context that reads Salesforce rows with this config's field names."""
    o = config.objects
    return PlanContext(
        names=FieldNames(
            customer_id=o.customer_id_field,
            dedupe_key=o.dedupe_key_field,
            billing_status=o.billing_status_field,
            domain=config.matching.domain_field,
            person=config.person_accounts,
        )
    )


def lookups_needed(event: EventView, config: SyncConfig, ctx: PlanContext) -> tuple[Lookup, ...]:
    flow = flow_of(event.type)
    if flow is None:
        return ()
    needed: list[Lookup] = []
    o = config.objects

    def need(kind: LookupKind, key: str, query: str | Callable[[], str] | None = None) -> None:
        """Add a lookup unless answered or already added; a callable `query` (the SOQL) is
        only called then: planning a backfill asks this several times for each of millions
        of objects."""
        if key and not ctx.has(kind, key) and all(n.key != key or n.kind != kind for n in needed):
            needed.append(Lookup(kind, key, query() if callable(query) else query))

    may_create = flow in CREATING_FLOWS and event.type != "customer.deleted"
    if event.object_id:
        # The ledger (and whether we remember the customer's records) is local and read
        # first: a late event then costs no API call.
        unread = [k for k in ledger_keys(event) if not ctx.has(LookupKind.LEDGER, k)]
        if unread:
            local = [Lookup(LookupKind.LEDGER, k) for k in unread]
            if may_create and event.customer_id:
                local.append(Lookup(LookupKind.LINKED, event.customer_id))
            return tuple(local)
        if late_event_reason(event, ctx):
            return ()
        if payload_may_be_stale(event, config):
            need(LookupKind.STRIPE_REFETCH, refetch_key(event))
        if needed and not event.customer_id:
            # alone first when the payload does not name the customer (a dispute): the
            # refetch does (its expanded charge), or answers 404
            return tuple(needed)
        if unknown_to_stripe(event, ctx):
            return ()  # Stripe answered 404: nothing more to read, nothing will be written
    obj = effective_object(event, ctx)

    if flow == Flow.DISPUTE:
        charge_id = id_of(obj.get("charge"))
        if charge_id:
            need(LookupKind.LEDGER, charge_id)
            if fresh_charge(event, ctx) is None:
                need(LookupKind.STRIPE_CHARGE, charge_id)

    if (
        flow == Flow.PAYMENT
        and all(ctx.ledger(k) is None for k in ledger_keys(event))
        and any(
            m.source == "charge.invoice_id"
            for m in config.mappings_for("charge", config.objects.payment_object)
        )
    ):
        # A payment's first write names its invoice; later ones leave the field as it is (a
        # value absent is not written), so one Stripe read per payment, not per event. Asked
        # with the refetch, from the payload (same API version): no round of its own.
        need(LookupKind.STRIPE_PAYMENT_INVOICE, invoice_unnamed(obj) or "")

    cid = customer_id_for(event, ctx)
    # A customer we do not remember is most likely new: it is read from Stripe along with the
    # event's own refetch, and its Contact search by email is asked with its Account and
    # Contact lookups instead of after them, so one Salesforce round (one call) serves it
    # (`lookup_batches.this_round` holds Salesforce lookups until Stripe has answered).
    new_here = bool(cid) and may_create and ctx.remembered(cid or "") is False
    if cid and new_here and event.object_type != "customer":
        need(LookupKind.STRIPE_CUSTOMER, cid)
    if cid:
        need(
            LookupKind.SF_ACCOUNT_BY_CUSTOMER,
            cid,
            lambda: soql.account_by_customer(
                o.customer_id_field, o.billing_status_field, cid, config.person_accounts
            ),
        )
        need(
            LookupKind.SF_CONTACT_BY_CUSTOMER,
            cid,
            lambda: soql.contact_by_customer(o.customer_id_field, cid),
        )
        known = ctx.has(LookupKind.SF_ACCOUNT_BY_CUSTOMER, cid) and ctx.has(
            LookupKind.SF_CONTACT_BY_CUSTOMER, cid
        )
        unlinked = ctx.account_for(cid) is None and ctx.linked_contact(cid) is None
        # a customer.* event of a linked Account without a Contact may give it one
        contactless = event.object_type == "customer" and ctx.linked_contact(cid) is None
        if (known and (unlinked or contactless) and may_create) or (new_here and not known):
            customer = customer_for(event, ctx)
            card_id = default_card_id(customer) if customer is not None else None
            if (  # an Account created or linked now shows the card on file at once
                unlinked
                and card_id
                and config.mappings_for("payment_method", "Account")
                and get_path(expanded_default_card(obj) or {}, "id") != card_id
            ):
                need(LookupKind.STRIPE_PAYMENT_METHOD, card_id)
            if customer is None and event.object_type != "customer":
                need(LookupKind.STRIPE_CUSTOMER, cid)
            elif customer is not None and _searchable(customer.email) and config.matching.by_email:
                email = normalize_email(customer.email or "")
                need(
                    LookupKind.SF_CONTACTS_BY_EMAIL,
                    email,
                    lambda: soql.contacts_by_email(o.customer_id_field, email),
                )
                # our database: who has this email first (claimed now if nobody does)
                need(LookupKind.EMAIL_CLAIM, claim_key(cid, email))
                owners = email_owners(cid, email, ctx)
                several = len(ctx.contacts_for(email)) > 1  # as `matching.resolve` counts
                ambiguous = (
                    several and bool(owners.free) and config.matching.multiple_contacts == "review"
                )
                shared = owners.claim_answered and owners.taken
                if unlinked and (ambiguous or shared):
                    need(LookupKind.SF_REVIEW_TASK, cid, soql.review_task(o.dedupe_key_field, cid))
                domain = customer.email_domain
                if (
                    unlinked
                    and config.matching.by_domain
                    and domain
                    and not _is_free_domain(domain, config)
                    and ctx.has(LookupKind.SF_CONTACTS_BY_EMAIL, email)
                    and not ctx.contacts_for(email)
                ):
                    need(
                        LookupKind.SF_ACCOUNTS_BY_DOMAIN,
                        domain,
                        soql.accounts_by_domain(config.matching.domain_field, domain),
                    )
                    hosts = [website_host(a.website) for a in ctx.accounts_for_domain(domain)]
                    if hosts.count(domain) > 1 and config.matching.multiple_contacts == "review":
                        need(
                            LookupKind.SF_REVIEW_TASK,
                            cid,
                            soql.review_task(o.dedupe_key_field, cid),
                        )

    if cid and may_create:  # a create a duplicate rule refused: the records it matched
        for found in duplicates.lookups(
            ctx, cid, o.customer_id_field, o.billing_status_field, o.dedupe_key_field
        ):
            need(found.kind, found.key, found.soql)

    if flow == Flow.SUBSCRIPTION and cid:
        need(LookupKind.STRIPE_SUBSCRIPTIONS, cid)
        subs = [obj, *(ctx.get(LookupKind.STRIPE_SUBSCRIPTIONS, cid) or ())]
        for sub in subs:
            for product_id in subscription_view(sub).product_ids():
                need(LookupKind.STRIPE_PRODUCT, product_id)

    if flow == Flow.INVOICE_FAILED and config.failed_payments.owner == "queue":
        need(
            LookupKind.SF_QUEUE,
            config.failed_payments.queue or "",
            soql.queue_by_name(config.failed_payments.queue or ""),
        )
    if flow == Flow.DISPUTE and config.disputes.owner == "queue":
        need(
            LookupKind.SF_QUEUE,
            config.disputes.queue or "",
            soql.queue_by_name(config.disputes.queue or ""),
        )
    if flow == Flow.INVOICE_PAID and cid:
        # another unpaid invoice that failed keeps the Account overdue
        need(LookupKind.STRIPE_OPEN_INVOICES, cid)
    if flow == Flow.INVOICE_PAID and event.object_id and config.failed_payments.close_on_paid:
        need(
            LookupKind.SF_OPEN_DUNNING,
            event.object_id,
            soql.open_dunning(config.dunning_object(), o.dedupe_key_field, event.object_id),
        )

    if flow == Flow.PAYMENT_METHOD and cid:
        need(LookupKind.STRIPE_CUSTOMER, cid)
    if event.type == "customer.updated" and default_pm_changed(event):
        pm = id_of(get_path(obj, "invoice_settings.default_payment_method")) or id_of(
            obj.get("default_source")
        )
        if pm and expanded_default_card(obj) is None:  # expanded: nothing to read
            need(LookupKind.STRIPE_PAYMENT_METHOD, pm)
    return tuple(needed)
