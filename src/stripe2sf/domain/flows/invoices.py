"""Failed payments: invoice.payment_failed opens a Task/Case per attempt; invoice.paid
closes them, restores the billing status and records how long it took.

Which attempt an event reports comes from the event's own payload, not from the invoice as
refetched: the refetch answers with the invoice as it is now, and when Stripe has retried since
(a worker behind, or a test clock advanced past several retries) it would name the latest
attempt, and every older attempt's event would write that attempt's Task. The invoice as it is
now still decides the Account's billing status.

An attempt planned after the invoice was paid (the worker behind the retries, or a test clock
run past the recovery) still gets its Task/Case, written closed as invoice.paid would have
closed it, and leaves the billing status alone: Salesforce ends the same however late the
worker was, and never holds an open Task for a paid invoice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stripe2sf.domain.config import BILLING_AT_RISK, BILLING_CURRENT, BILLING_OVERDUE
from stripe2sf.domain.context import LookupKind
from stripe2sf.domain.flows.builder import PlanBuilder
from stripe2sf.domain.flows.common import customer_records, owner_for, refs, sf_date_after
from stripe2sf.domain.flows.subjects import effective_object
from stripe2sf.domain.operations import Operation
from stripe2sf.domain.sources import invoice_sources, mapped_fields
from stripe2sf.domain.stripe_views import InvoiceView, invoice_view
from stripe2sf.domain.transforms import to_sf_datetime


def dedupe_key(invoice_id: str, attempt: int) -> str:
    """One Task/Case per invoice attempt, however often the event arrives."""
    return f"{invoice_id}:{attempt}"


def _describe(inv: InvoiceView, attempt: int) -> tuple[str, str]:
    amount = f"{inv.amount_due_major} {inv.currency.upper()}"
    label = inv.number or inv.id
    final = inv.final_attempt
    subject = f"Payment failed: {amount}, invoice {label}, attempt {attempt}"
    if final:
        subject += " (final attempt)"
    retry = (
        to_sf_datetime(inv.next_payment_attempt)
        if inv.next_payment_attempt
        else "none - this was the final attempt; Stripe will not retry"
    )
    lines = [
        f"Amount due: {amount}",
        f"Attempt: {attempt}",
        f"Next retry: {retry}",
        f"Invoice: {inv.hosted_invoice_url or '-'}",
        f"Stripe invoice {inv.id}, customer {inv.customer_id or '-'}",
    ]
    if inv.subscription_id:
        lines.append(f"Subscription: {inv.subscription_id}")
    return subject[:255], "\n".join(lines)


def failed_attempt(event_object: Mapping[str, Any], now: InvoiceView) -> InvoiceView:
    """The invoice as of the failed attempt the event reports: its own payload when that names
    the attempt (the attempt count, the next retry then scheduled), else the invoice as it is
    now (a payload without attempt_count, such as a thin event's)."""
    own = invoice_view(event_object)
    return own if own.attempt_count > 0 and own.id == now.id else now


def plan_invoice_failed(b: PlanBuilder) -> None:
    inv = invoice_view(effective_object(b.event, b.ctx))
    fp = b.config.failed_payments
    o = b.config.objects
    then = failed_attempt(b.event.object, inv)
    attempt = max(1, then.attempt_count)
    if then.attempt_count < inv.attempt_count:
        b.notes.append(
            f"invoice {inv.id} is at attempt {inv.attempt_count} now; this event reports "
            f"attempt {attempt}, whose Task/Case it writes"
        )
    cw = customer_records(b, inv.customer_id, may_create=True)
    if not inv.paid:
        status = BILLING_AT_RISK if inv.final_attempt else BILLING_OVERDUE  # as it is now
        b.merge_account_fields(
            cw, {o.billing_status_field: status}, f"invoice {inv.id} attempt {attempt} failed"
        )
    owner, owner_why = owner_for(b, fp.owner, fp.queue, cw)
    subject, description = _describe(then, attempt)
    record = b.config.dunning_object()
    fields: dict[str, Any] = {
        "Subject": subject,
        "Description": description,
        "Priority": fp.final_attempt_priority if then.final_attempt else fp.priority,
    }
    if record == "Task":
        fields["Status"] = "Not Started"
        fields["ActivityDate"] = sf_date_after(b.event.created, fp.due_in_days)
        what, who = cw.polymorphic_refs()
        links = refs(WhatId=what, WhoId=who)
    else:
        fields["Status"] = "New"
        fields["Origin"] = fp.case_origin
        links = refs(AccountId=cw.account_ref, ContactId=cw.contact_ref)
    if owner:
        fields["OwnerId"] = owner
    fields.update(
        mapped_fields(
            b.config, "invoice", record, invoice_sources(then), creating=True, notes=b.notes
        )
    )
    reason = f"invoice {inv.id} attempt {attempt} failed; owner: {owner_why}"
    if inv.paid and fp.close_on_paid:
        paid_at = inv.paid_at or b.event.created
        fields["Status"] = fp.task_closed_status if record == "Task" else fp.case_closed_status
        fields[o.resolved_at_field] = to_sf_datetime(paid_at)
        fields[o.resolution_minutes_field] = max(0, int((paid_at - b.event.created) // 60))
        reason += "; the invoice is paid since (refetched): written closed"
    b.add(
        Operation(
            "dunning",
            "upsert",
            record,
            o.dedupe_key_field,
            dedupe_key(inv.id, attempt),
            fields,
            refs=links,
            depends_on=tuple(op.op_id for op in b.operations),
            reason=reason,
        )
    )
    b.touch(inv.id)


def billing_status_after_paid(
    paid: InvoiceView, open_invoices: Sequence[Mapping[str, Any]] | None
) -> tuple[str | None, str]:
    """The Account's billing status once `paid` is paid, and why: Current, unless another open
    invoice of the customer has failed a payment attempt and is still unpaid (then Overdue, or
    At Risk when Stripe will not retry it). None when the open invoices are not known."""
    if open_invoices is None:
        return None, f"invoice {paid.id} paid"
    failing = [v for v in map(invoice_view, open_invoices) if v.id != paid.id and v.failed_and_owed]
    if not failing:
        return BILLING_CURRENT, f"invoice {paid.id} paid; no other invoice is failing"
    status = BILLING_AT_RISK if any(v.final_attempt for v in failing) else BILLING_OVERDUE
    others = ", ".join(sorted(v.id for v in failing))
    return status, f"invoice {paid.id} paid, but {others} still unpaid after failed attempts"


def plan_invoice_paid(b: PlanBuilder) -> None:
    inv = invoice_view(effective_object(b.event, b.ctx))
    o = b.config.objects
    fp = b.config.failed_payments
    cw = customer_records(b, inv.customer_id, may_create=False)
    account = b.ctx.account_for(inv.customer_id) if inv.customer_id else None
    status, why = billing_status_after_paid(inv, b.ctx.open_invoices(inv.customer_id or ""))
    if status is None:
        b.assumptions.append(f"the customer's other open invoices were not looked up ({why})")
        status = BILLING_CURRENT
    if cw.account_ref is not None and (account is None or account.billing_status != status):
        b.merge_account_fields(cw, {o.billing_status_field: status}, why)
    paid_at = inv.paid_at or b.event.created
    record = b.config.dunning_object()
    if fp.close_on_paid:
        if not b.ctx.has(LookupKind.SF_OPEN_DUNNING, inv.id):
            b.assumptions.append(f"no open Task/Case for {inv.id} (lookup not done)")
        prefix = f"{inv.id}:"
        for i, rec in enumerate(
            r for r in b.ctx.open_dunning(inv.id) if r.dedupe_key.startswith(prefix)
        ):
            closed = fp.task_closed_status if record == "Task" else fp.case_closed_status
            fields: dict[str, Any] = {
                "Status": closed,
                o.resolved_at_field: to_sf_datetime(paid_at),
            }
            if rec.created is not None:
                minutes = max(0, int((paid_at - rec.created.timestamp()) // 60))
                fields[o.resolution_minutes_field] = minutes
            b.add(
                Operation(
                    f"close_{i}",
                    "upsert",
                    record,
                    o.dedupe_key_field,
                    rec.dedupe_key,
                    fields,
                    reason=f"invoice {inv.id} paid: close failed-payment {record.lower()}",
                )
            )
    b.touch(inv.id)
