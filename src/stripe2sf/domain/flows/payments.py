"""Payments: charge.succeeded/failed/refunded, payment_intent.succeeded, disputes.

The payment record is written from the charge as Stripe answers it now (`subjects.fresh_charge`:
the refetched charge, or the charge expanded in the refetched dispute), never from the event's
payload when a fresh charge is there: events of one charge often share their `created` second
and arrive in any order, and only the fresh charge says which refunds and disputes it has. So
whichever of `charge.*`, `payment_intent.succeeded` and `charge.dispute.created` is applied
last, the record ends with the charge's newest status and refunded amount. The dispute Case
is written from the refetched dispute (its current status: needs_response, under_review, won,
lost). Payloads are used only when nothing was refetched (`[sync] refetch = "never"`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

from stripe2sf.domain.flows.builder import PlanBuilder
from stripe2sf.domain.flows.common import customer_records, owner_for, refs
from stripe2sf.domain.flows.subjects import customer_id_for, effective_object, fresh_charge
from stripe2sf.domain.matching.resolve import CustomerWrites
from stripe2sf.domain.money import to_major_units
from stripe2sf.domain.operations import Operation
from stripe2sf.domain.sources import charge_sources, dispute_sources, mapped_fields
from stripe2sf.domain.stripe_views import (
    CardView,
    ChargeView,
    charge_view,
    dispute_view,
    payment_intent_view,
)
from stripe2sf.domain.transforms import to_sf_date


def _charge_from_intent(b: PlanBuilder) -> ChargeView | None:
    """The charge a succeeded PaymentIntent made, embedded or synthesised from the intent.

    Keyed by the charge id when known, so that this and `charge.succeeded` upsert the same
    record; by the intent id only when the payload names no charge at all.
    """
    pi = payment_intent_view(effective_object(b.event, b.ctx))
    if pi.status != "succeeded":
        b.skipped.append(f"payment intent {pi.id} is {pi.status}, not succeeded")
        return None
    if pi.latest_charge is not None:
        view = charge_view(pi.latest_charge)
        return view if view.customer_id else _with_customer(view, pi.customer_id)
    return ChargeView(
        id=pi.latest_charge_id or pi.id,
        customer_id=pi.customer_id,
        amount=pi.amount_received,
        amount_refunded=0,
        currency=pi.currency,
        status="succeeded",
        paid=True,
        refunded=False,
        created=pi.created,
        invoice_id=pi.invoice_id,
        payment_intent_id=pi.id,
        card=CardView(),
        billing_email=None,
        failure_message=None,
        disputed=False,
    )


def _embeds_charge(b: PlanBuilder) -> bool:
    return payment_intent_view(effective_object(b.event, b.ctx)).latest_charge is not None


def _with_customer(view: ChargeView, customer_id: str | None) -> ChargeView:
    return replace(view, customer_id=customer_id)


def plan_payment(b: PlanBuilder) -> None:
    fresh = fresh_charge(b.event, b.ctx)
    if b.event.type == "payment_intent.succeeded":
        if not b.config.sync.payment_intent_without_charge:
            b.skipped.append("payment_intent.succeeded is off (charge events carry payments)")
            return
        if fresh is not None:
            pi_customer = payment_intent_view(b.event.object).customer_id
            charge = charge_view(fresh)
            charge = charge if charge.customer_id else _with_customer(charge, pi_customer)
        else:
            found = _charge_from_intent(b)
            if found is None:
                return
            charge = found
    else:
        charge = charge_view(fresh if fresh is not None else effective_object(b.event, b.ctx))
    if charge.invoice_id is None and (
        invoice_id := b.ctx.payment_invoice(charge.payment_intent_id)
    ):
        charge = replace(charge, invoice_id=invoice_id)  # API 2025-03-31.basil and later
    written_from = b.ctx.ledger(charge.id)
    if charge.id != b.event.object_id and written_from and written_from > b.event.created:
        b.skipped.append(f"late event: payment {charge.id} already written from newer state")
        return
    o = b.config.objects
    cw = customer_records(b, charge.customer_id, may_create=True)
    raw = fresh if fresh is not None else effective_object(b.event, b.ctx)
    values = charge_sources(charge, raw)
    if b.event.type == "payment_intent.succeeded" and fresh is None and not _embeds_charge(b):
        values.pop("charge.amount_refunded", None)  # unknown: the intent does not say
    fields = mapped_fields(
        b.config, "charge", o.payment_object, values, creating=True, notes=b.notes
    )
    b.add(
        Operation(
            "payment",
            "upsert",
            o.payment_object,
            o.payment_key_field,
            charge.id,
            fields,
            refs=refs(
                **{o.payment_account_field: cw.account_ref, o.payment_contact_field: cw.contact_ref}
            ),
            depends_on=tuple(op.op_id for op in cw.operations if op.sobject != "Task"),
            reason=f"{b.event.type}: payment {charge.id} is {charge.payment_status}"
            + (" (charge read from Stripe now)" if fresh is not None else " (event payload)"),
        )
    )
    b.touch(charge.id)
    b.touch(b.event.object_id)


def plan_dispute(b: PlanBuilder) -> None:
    if not b.config.disputes.enabled:
        b.skipped.append("disputes are off in the config")
        return
    d = dispute_view(effective_object(b.event, b.ctx))
    cfg = b.config.disputes
    cid = customer_id_for(b.event, b.ctx)
    cw = customer_records(b, cid, may_create=False)
    owner, owner_why = owner_for(b, cfg.owner, cfg.queue, cw)
    amount: Decimal = to_major_units(d.amount, d.currency)
    fields: dict[str, object] = {
        "Subject": f"Stripe dispute: {amount} {d.currency.upper()} ({d.reason or 'no reason'})",
        "Description": "\n".join(
            [
                f"Dispute {d.id} on charge {d.charge_id or '-'}",
                f"Amount: {amount} {d.currency.upper()}",
                f"Reason: {d.reason or '-'}; status: {d.status or '-'}",
                f"Evidence due: {to_sf_date(d.evidence_due_by) if d.evidence_due_by else '-'}",
            ]
        ),
        "Priority": cfg.priority,
        "Status": "New",
        "Origin": cfg.case_origin,
    }
    if owner:
        fields["OwnerId"] = owner
    fields.update(
        mapped_fields(b.config, "dispute", "Case", dispute_sources(d), creating=True, notes=b.notes)
    )
    b.add(
        Operation(
            "dispute_case",
            "upsert",
            "Case",
            b.config.objects.dedupe_key_field,
            f"dispute:{d.id}",
            fields,
            refs=refs(AccountId=cw.account_ref, ContactId=cw.contact_ref),
            depends_on=tuple(op.op_id for op in cw.operations),
            reason=f"dispute {d.id} opened; owner: {owner_why}",
        )
    )
    b.touch(d.id)
    _mark_payment_disputed(b, d.charge_id, cw)


def _mark_payment_disputed(b: PlanBuilder, charge_id: str | None, cw: CustomerWrites) -> None:
    """The payment record from the charge as Stripe answers it now (else a charge embedded in
    an old API version's payload), shown Disputed unless refunds say more; unless the ledger
    says it was already written from a newer state."""
    charge_obj = fresh_charge(b.event, b.ctx)
    raw = b.event.object.get("charge")
    if charge_obj is None and isinstance(raw, Mapping):
        charge_obj = raw
    if charge_obj is None or not charge_id:
        b.notes.append("disputed charge not fetched; payment record unchanged")
        return
    written_from = b.ctx.ledger(charge_id)
    if written_from is not None and written_from > b.event.created:
        b.notes.append(f"payment {charge_id} already written from newer state; unchanged")
        return
    charge = replace(charge_view(charge_obj), disputed=True)
    o = b.config.objects
    values = charge_sources(charge, charge_obj)
    fields = mapped_fields(
        b.config, "charge", o.payment_object, values, creating=True, notes=b.notes
    )
    b.add(
        Operation(
            "payment",
            "upsert",
            o.payment_object,
            o.payment_key_field,
            charge.id,
            fields,
            refs=refs(
                **{o.payment_account_field: cw.account_ref, o.payment_contact_field: cw.contact_ref}
            ),
            reason=f"payment {charge.id} is {charge.payment_status}",
        )
    )
    b.touch(charge.id)
