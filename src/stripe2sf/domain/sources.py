"""Flatten normalised Stripe views into the allow-listed source values mappings read,
and apply the configured mappings (transforms + ownership) to produce Salesforce fields."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.stripe_views import (
    ChargeView,
    CustomerView,
    DisputeView,
    InvoiceView,
    PaymentMethodView,
    SubscriptionView,
)
from stripe2sf.domain.transforms import Money, TransformError, apply_transform

# The standard field of every record in an org with multiple currencies: the ISO code its
# currency fields are in.
CURRENCY_FIELD = "CurrencyIsoCode"


def _with_metadata(
    prefix: str, values: dict[str, Any], raw: Mapping[str, Any] | None
) -> dict[str, Any]:
    meta = raw.get("metadata") if raw else None
    if isinstance(meta, Mapping):
        for key, value in meta.items():
            if isinstance(value, str | int | float):
                values[f"{prefix}.metadata.{key}"] = str(value)
    return values


def charge_sources(c: ChargeView, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    values = {
        "charge.id": c.id,
        "charge.customer_id": c.customer_id,
        "charge.amount": Money(c.amount, c.currency),
        "charge.amount_refunded": Money(c.amount_refunded, c.currency),
        "charge.currency": c.currency,
        "charge.status": c.payment_status,
        "charge.created": c.created,
        "charge.invoice_id": c.invoice_id,
        "charge.payment_intent_id": c.payment_intent_id,
        "charge.card_brand": c.card.brand,
        "charge.card_last4": c.card.last4,
        "charge.failure_message": c.failure_message,
    }
    return _with_metadata("charge", values, raw)


def customer_sources(c: CustomerView, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    first, last = c.first_last
    values = {
        "customer.id": c.id,
        "customer.email": c.email,
        "customer.name": c.name,
        "customer.display_name": c.name or c.email or c.id,
        "customer.first_name": first,
        "customer.last_name": last,
        "customer.phone": c.phone,
        "customer.created": c.created,
        "customer.deleted": c.deleted,
    }
    return _with_metadata("customer", values, raw)


def subscription_sources(
    s: SubscriptionView,
    raw: Mapping[str, Any] | None = None,
    *,
    product_names: Mapping[str, str] | None = None,
    status: str | None = None,
    mrr: Decimal | None = None,
) -> dict[str, Any]:
    """Values of one subscription; `status`/`mrr` override for the Account summary."""
    item = s.primary_item
    plan_name = None
    if item is not None:
        names = product_names or {}
        plan_name = (
            item.product_name
            or (names.get(item.product_id) if item.product_id else None)
            or item.nickname
        )
    values = {
        "subscription.id": s.id,
        "subscription.status": status or s.status,
        "subscription.plan_name": plan_name,
        "subscription.product_id": item.product_id if item else None,
        "subscription.price_id": item.price_id if item else None,
        "subscription.quantity": s.quantity,
        "subscription.mrr": mrr if mrr is not None else s.mrr,
        "subscription.currency": s.currency.upper() if s.currency else None,
        "subscription.current_period_end": s.current_period_end,
        "subscription.cancel_at_period_end": s.cancel_at_period_end,
        "subscription.trial_end": s.trial_end,
        "subscription.created": s.created,
    }
    return _with_metadata("subscription", values, raw)


def invoice_sources(i: InvoiceView, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    values = {
        "invoice.id": i.id,
        "invoice.number": i.number,
        "invoice.amount_due": Money(i.amount_due, i.currency),
        "invoice.amount_paid": Money(i.amount_paid, i.currency),
        "invoice.attempt_count": i.attempt_count,
        "invoice.next_payment_attempt": i.next_payment_attempt,
        "invoice.hosted_invoice_url": i.hosted_invoice_url,
        "invoice.status": i.status,
    }
    return _with_metadata("invoice", values, raw)


def payment_method_sources(p: PaymentMethodView) -> dict[str, Any]:
    return {
        "payment_method.id": p.id,
        "payment_method.type": p.type,
        "payment_method.card_brand": p.card.brand,
        "payment_method.card_last4": p.card.last4,
        "payment_method.card_exp_month": p.card.exp_month,
        "payment_method.card_exp_year": p.card.exp_year,
    }


def dispute_sources(d: DisputeView) -> dict[str, Any]:
    return {
        "dispute.id": d.id,
        "dispute.amount": Money(d.amount, d.currency),
        "dispute.reason": d.reason,
        "dispute.status": d.status,
        "dispute.evidence_due_by": d.evidence_due_by,
    }


def mapped_fields(
    config: SyncConfig,
    source_obj: str,
    target_obj: str,
    values: Mapping[str, Any],
    *,
    creating: bool,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Salesforce fields for `target_obj` from `values`, honouring ownership.

    Values that are absent (None) are left out rather than clearing the field: a Stripe
    payload of an old API version simply lacks newer fields. A value that cannot be
    transformed is left out with a note.
    """
    fields: dict[str, Any] = {}
    currencies: dict[str, str] = {}  # money field -> the currency of its amount
    for source, target_field, transform, choices in config.writable_mappings(
        source_obj, target_obj, creating=creating
    ):
        value = values.get(source)
        if value is None:
            continue
        try:
            fields[target_field] = apply_transform(value, transform, choices)
        except TransformError as exc:
            if notes is not None:
                notes.append(f"{source} -> {target_obj}.{target_field}: {exc}")
            continue
        if transform == "money":
            code = (
                value.currency if isinstance(value, Money) else values.get(f"{source_obj}.currency")
            )
            if code:
                currencies[target_field] = str(code).upper()
    if config.multi_currency and currencies and CURRENCY_FIELD not in fields:
        fields.update(record_currency(config, target_obj, currencies, creating, notes))
    record_type = config.record_type_id(target_obj) if creating else None
    if record_type is not None:  # `[record_types]`: the record type of the records it creates
        fields["RecordTypeId"] = record_type
    return fields


def record_currency(
    config: SyncConfig,
    target_obj: str,
    currencies: Mapping[str, str],
    creating: bool,
    notes: list[str] | None,
) -> dict[str, str]:
    """CurrencyIsoCode for a record whose money fields are in `currencies` (field -> ISO
    code), in an org with multiple currencies: a record's amounts are read in its currency, so
    it must be theirs. Nothing when ownership keeps stripe2sf off the field, and nothing (with
    a note) when the amounts disagree: no single currency is right for the record then."""
    codes = sorted(set(currencies.values()))
    if not config.can_write(target_obj, CURRENCY_FIELD, creating=creating):
        return {}
    if len(codes) > 1:
        if notes is not None:
            shown = ", ".join(f"{f} in {c}" for f, c in sorted(currencies.items()))
            notes.append(
                f"{target_obj}.{CURRENCY_FIELD} not set: amounts in several currencies ({shown})"
            )
        return {}
    return {CURRENCY_FIELD: codes[0]}
