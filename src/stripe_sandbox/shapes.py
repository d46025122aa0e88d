"""Object shapes of the pinned API version (``API_VERSION``), built as plain dicts.

Each builder returns every field the API returns for that object, with realistic defaults;
behaviour modules fill in the rest. Fields that Stripe leaves out unless asked for (includable
fields, ``deleted`` on live objects, Connect-only fields, other payment-method types) are listed
in ``OMITTED`` so that tests can check shapes against the SDK's typed classes.
"""

from __future__ import annotations

from typing import Any

API_VERSION = "2026-10-28.endive"

Obj = dict[str, Any]

OMITTED: dict[str, frozenset[str]] = {
    "customer": frozenset(
        {
            "cash_balance",
            "invoice_credit_balance",
            "sources",
            "subscriptions",
            "tax",
            "tax_ids",
            "deleted",
        }
    ),
    "invoice": frozenset({"deleted", "payments", "confirmation_secret"}),
    "invoiceitem": frozenset({"deleted"}),
    "product": frozenset({"deleted"}),
    "price": frozenset({"deleted", "currency_options", "tiers"}),
    "plan": frozenset({"deleted", "tiers"}),
    "subscription_item": frozenset({"deleted"}),
    "test_helpers.test_clock": frozenset({"deleted"}),
    "webhook_endpoint": frozenset({"deleted", "secret"}),
    "event": frozenset({"account", "context"}),
}

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)


def address(src: Any = None) -> Obj:
    src = src if isinstance(src, dict) else {}
    return {k: src.get(k) for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def shipping(src: Any) -> Obj | None:
    if not isinstance(src, dict) or not src:
        return None
    return {
        "address": address(src.get("address")),
        "carrier": src.get("carrier"),
        "name": src.get("name"),
        "phone": src.get("phone"),
        "tracking_number": src.get("tracking_number"),
    }


def empty_list(url: str) -> Obj:
    return {"object": "list", "data": [], "has_more": False, "total_count": 0, "url": url}


def customer(id: str, created: int) -> Obj:
    return {
        "id": id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": created,
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
        "invoice_prefix": id[-8:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def card_details(brand: str, last4: str, exp_month: int, exp_year: int, fp: str) -> Obj:
    """``payment_method.card``."""
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": "US",
        "description": None,
        "display_brand": brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fp,
        "funding": "credit",
        "generated_from": None,
        "iin": None,
        "issuer": None,
        "last4": last4,
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def payment_method(id: str, created: int, card: Obj) -> Obj:
    return {
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": address(),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "card": card,
        "created": created,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def charge_card_details(card: Obj, amount: int, network_transaction_id: str) -> Obj:
    """``charge.payment_method_details`` for a card."""
    return {
        "card": {
            "amount_authorized": amount,
            "authorization_code": None,
            "brand": card["brand"],
            "checks": dict(card["checks"]),
            "country": card["country"],
            "description": None,
            "electronic_commerce_indicator": None,
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "extended_authorization": {"status": "disabled"},
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "iin": None,
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "issuer": None,
            "last4": card["last4"],
            "mandate": None,
            "moto": None,
            "multicapture": {"status": "unavailable"},
            "network": card["brand"],
            "network_token": {"used": False},
            "network_transaction_id": network_transaction_id,
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "regulated_status": card["regulated_status"],
            "setup_credential_usage": None,
            "stored_credential_usage": None,
            "three_d_secure": None,
            "transaction_link_id": None,
            "wallet": None,
        },
        "type": "card",
    }


def outcome(
    *,
    type: str,
    network_status: str,
    reason: str | None,
    seller_message: str,
    risk_level: str = "normal",
    risk_score: int = 20,
    advice_code: str | None = None,
) -> Obj:
    return {
        "advice_code": advice_code,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": network_status,
        "reason": reason,
        "risk_level": risk_level,
        "risk_score": risk_score,
        "seller_message": seller_message,
        "type": type,
    }


def charge(id: str, created: int, amount: int, currency: str) -> Obj:
    return {
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "authorization_code": None,
        "balance_transaction": None,
        "billing_details": {
            "address": address(),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "STRIPE SANDBOX",
        "captured": False,
        "created": created,
        "currency": currency,
        "customer": None,
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "level3": None,
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": None,
        "paid": False,
        "payment_intent": None,
        "payment_method": None,
        "payment_method_details": None,
        "presentment_details": None,
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": empty_list(f"/v1/charges/{id}/refunds"),
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "pending",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_intent(id: str, created: int, amount: int, currency: str, secret: str) -> Obj:
    return {
        "id": id,
        "object": "payment_intent",
        "allowed_payment_method_types": None,
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{id}_secret_{secret}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "hooks": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_details": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "payment_record": None,
        "presentment_details": None,
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def payment_error(
    *,
    code: str,
    decline_code: str | None,
    message: str,
    charge: str | None,
    pm: Obj | None,
    advice_code: str | None = None,
) -> Obj:
    """``payment_intent.last_payment_error`` / the body of a card_error."""
    return {
        "advice_code": advice_code,
        "charge": charge,
        "code": code,
        "decline_code": decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": message,
        "network_advice_code": None,
        "network_decline_code": None,
        "payment_method": pm,
        "payment_method_type": "card" if pm else None,
        "type": "card_error",
    }


def refund(id: str, created: int, amount: int, currency: str) -> Obj:
    return {
        "id": id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": None,
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": {},
        "payment_intent": None,
        "payment_method": None,
        "pending_reason": None,
        "presentment_details": None,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def dispute(id: str, created: int, amount: int, currency: str, charge_id: str) -> Obj:
    evidence_keys = [
        "access_activity_log",
        "appeal",
        "billing_address",
        "cancellation_policy",
        "cancellation_policy_disclosure",
        "cancellation_rebuttal",
        "customer_communication",
        "customer_email_address",
        "customer_name",
        "customer_purchase_ip",
        "customer_signature",
        "duplicate_charge_documentation",
        "duplicate_charge_explanation",
        "duplicate_charge_id",
        "product_description",
        "receipt",
        "refund_policy",
        "refund_policy_disclosure",
        "refund_refusal_explanation",
        "service_date",
        "service_documentation",
        "shipping_address",
        "shipping_carrier",
        "shipping_date",
        "shipping_documentation",
        "shipping_tracking_number",
        "uncategorized_file",
        "uncategorized_text",
    ]
    evidence: Obj = dict.fromkeys(evidence_keys)
    evidence["enhanced_evidence"] = {}
    return {
        "id": id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": charge_id,
        "created": created,
        "currency": currency,
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {
            "due_by": created + 7 * 86400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": None,
        },
        "intended_submission_method": None,
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": None,
        "payment_method_details": None,
        "reason": "fraudulent",
        "status": "needs_response",
    }


def product(id: str, created: int, name: str) -> Obj:
    return {
        "id": id,
        "object": "product",
        "active": True,
        "created": created,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "tax_details": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(id: str, created: int, product_id: str, currency: str, unit_amount: int) -> Obj:
    return {
        "id": id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def recurring(interval: str, interval_count: int, trial_period_days: int | None) -> Obj:
    return {
        "interval": interval,
        "interval_count": interval_count,
        "meter": None,
        "trial_period_days": trial_period_days,
        "usage_type": "licensed",
    }


def plan_from_price(p: Obj) -> Obj:
    rec = p["recurring"] or {}
    return {
        "id": p["id"],
        "object": "plan",
        "active": p["active"],
        "amount": p["unit_amount"],
        "amount_decimal": p["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": p["created"],
        "currency": p["currency"],
        "interval": rec.get("interval", "month"),
        "interval_count": rec.get("interval_count", 1),
        "livemode": False,
        "metadata": dict(p["metadata"]),
        "meter": None,
        "nickname": p["nickname"],
        "product": p["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": rec.get("trial_period_days"),
        "usage_type": "licensed",
    }


def subscription_item(
    id: str, created: int, sub_id: str, price_obj: Obj, quantity: int, start: int, end: int
) -> Obj:
    return {
        "id": id,
        "object": "subscription_item",
        "billed_until": None,
        "billing_thresholds": None,
        "created": created,
        "current_period_end": end,
        "current_period_start": start,
        "current_trial": None,
        "discounts": [],
        "metadata": {},
        "plan": plan_from_price(price_obj),
        "price": price_obj,
        "quantity": quantity,
        "subscription": sub_id,
        "tax_rates": [],
    }


def subscription(id: str, created: int, customer_id: str, currency: str) -> Obj:
    return {
        "id": id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "feedback_option": None,
            "reason": None,
        },
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/subscription_items?subscription={id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "presentment_details": None,
        "schedule": None,
        "start_date": created,
        "status": "incomplete",
        "status_details": None,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {
            "end_behavior": {
                "billing_cycle_anchor": None,
                "missing_payment_method": "create_invoice",
            }
        },
        "trial_start": None,
    }


def invoice(id: str, created: int, cust: Obj, currency: str) -> Obj:
    return {
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Stripe Sandbox",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "manual",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": cust["id"],
        "customer_account": None,
        "customer_address": cust.get("address"),
        "customer_email": cust.get("email"),
        "customer_name": cust.get("name"),
        "customer_phone": cust.get("phone"),
        "customer_shipping": cust.get("shipping"),
        "customer_tax_exempt": cust.get("tax_exempt", "none"),
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/invoices/{id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": created,
        "period_start": created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_details": None,
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": cust.get("test_clock"),
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def line_item(
    id: str,
    invoice_id: str,
    amount: int,
    currency: str,
    description: str | None,
    quantity: int,
    start: int,
    end: int,
    parent: Obj,
    price_obj: Obj | None,
    subscription_id: str | None,
) -> Obj:
    return {
        "id": id,
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": parent,
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": (
                {"price": price_obj["id"], "product": price_obj["product"]} if price_obj else None
            ),
            "type": "price_details",
            "unit_amount_decimal": str(price_obj["unit_amount"] if price_obj else amount),
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": subscription_id,
        "subtotal": amount,
        "taxes": [],
    }


def invoiceitem(id: str, created: int, customer_id: str, amount: int, currency: str) -> Obj:
    return {
        "id": id,
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "date": created,
        "description": None,
        "discountable": True,
        "discounts": [],
        "frozen_fields": None,
        "invoice": None,
        "invoicing_rules": None,
        "livemode": False,
        "metadata": {},
        "net_amount": amount,
        "parent": None,
        "period": {"end": created, "start": created},
        "pricing": {
            "price_details": None,
            "type": "price_details",
            "unit_amount_decimal": str(amount),
        },
        "proration": False,
        "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": 1,
        "quantity_decimal": "1",
        "tax_rates": [],
        "test_clock": None,
    }


def invoice_payment(
    id: str, created: int, invoice_id: str, amount: int, currency: str, pi_id: str
) -> Obj:
    return {
        "id": id,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": amount,
        "created": created,
        "currency": currency,
        "invoice": invoice_id,
        "is_default": True,
        "livemode": False,
        "payment": {
            "charge": None,
            "payment_intent": pi_id,
            "payment_record": None,
            "type": "payment_intent",
        },
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def test_clock(id: str, created: int, frozen_time: int, name: str | None) -> Obj:
    return {
        "id": id,
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + 30 * 86400,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {},
    }


def webhook_endpoint(id: str, created: int, url: str, events: list[str]) -> Obj:
    return {
        "id": id,
        "object": "webhook_endpoint",
        "api_version": None,
        "application": None,
        "created": created,
        "description": None,
        "enabled_events": events,
        "livemode": False,
        "metadata": {},
        "status": "enabled",
        "url": url,
    }


def event(
    id: str,
    created: int,
    type: str,
    obj: Obj,
    previous: Obj | None,
    request_id: str | None,
    idempotency_key: str | None,
    pending: int,
) -> Obj:
    data: Obj = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }


def deleted(id: str, object_type: str) -> Obj:
    return {"id": id, "object": object_type, "deleted": True}


def setup_intent(id: str, created: int, secret: str) -> Obj:
    return {
        "id": id,
        "object": "setup_intent",
        "allowed_payment_method_types": None,
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{id}_secret_{secret}",
        "created": created,
        "customer": None,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "managed_payments": None,
        "mandate": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": "off_session",
    }
