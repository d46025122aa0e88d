"""Payment links: a shareable URL (``https://buy.stripe.com/test_...``) that sells prices.

What the sandbox keeps of them: ``POST /v1/payment_links`` (``line_items[i][price]`` and
``[quantity]``, required; ``metadata``, ``active``), retrieve, list, update (``active``,
``metadata``) and ``GET /v1/payment_links/{id}/line_items``; ``line_items`` is also
includable (``expand[]=line_items``), as in Stripe. Nobody pays through them here: no
Checkout Session is ever completed. Events: ``payment_link.created``, ``payment_link.updated``.
"""

from __future__ import annotations

from typing import Any

from stripe_sandbox import ids
from stripe_sandbox.errors import InvalidRequestError, param_invalid, param_required
from stripe_sandbox.models.common import Obj, apply_metadata, snapshot
from stripe_sandbox.params import Params, get_bool, get_int, get_list
from stripe_sandbox.state import Tx

MAX_LINE_ITEMS = 20


def shape(id: str, currency: str, token: str) -> Obj:
    """A payment link as the API shows it (fields of the 2024+ API that a link made with
    only line items has)."""
    return {
        "id": id,
        "object": "payment_link",
        "active": True,
        "after_completion": {
            "hosted_confirmation": {"custom_message": None},
            "type": "hosted_confirmation",
        },
        "allow_promotion_codes": False,
        "application": None,
        "application_fee_amount": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_address_collection": "auto",
        "consent_collection": None,
        "currency": currency,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer_creation": "if_required",
        "inactive_message": None,
        "invoice_creation": {"enabled": False, "invoice_data": None},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "payment_intent_data": None,
        "payment_method_collection": "always",
        "payment_method_types": None,
        "phone_number_collection": {"enabled": False},
        "restrictions": None,
        "shipping_address_collection": None,
        "shipping_options": [],
        "submit_type": "auto",
        "subscription_data": None,
        "tax_id_collection": {"enabled": False, "required": "never"},
        "transfer_data": None,
        "url": f"https://buy.stripe.com/test_{token}",
    }


def _line_item(tx: Tx, raw: Any, i: int, currency: str | None) -> Obj:
    if not isinstance(raw, dict):
        raise param_invalid(f"line_items[{i}]", "Invalid hash")
    price_id = raw.get("price")
    if not price_id:
        raise param_required(f"line_items[{i}][price]")
    price = tx.get("price", price_id, f"line_items[{i}][price]").data
    if not price.get("active", True):
        raise InvalidRequestError(
            f"The price `{price_id}` is not active.", param=f"line_items[{i}][price]"
        )
    if currency is not None and price["currency"] != currency:
        raise InvalidRequestError(
            "All prices on a payment link must have the same currency.",
            param=f"line_items[{i}][price]",
        )
    quantity = get_int(raw, "quantity")
    if quantity is None:
        raise param_required(f"line_items[{i}][quantity]")
    if quantity < 1:
        raise param_invalid(f"line_items[{i}][quantity]", "Quantity must be at least 1.")
    product = tx.find("product", str(price["product"]))
    amount = int(price.get("unit_amount") or 0) * quantity
    return {
        "id": ids.new_id("li"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"],
        "description": product.data.get("name") if product is not None else None,
        "price": price,
        "quantity": quantity,
    }


def create(tx: Tx, params: Params) -> Obj:
    raw_items = get_list(params, "line_items")
    if not raw_items:
        raise param_required("line_items")
    if len(raw_items) > MAX_LINE_ITEMS:
        raise param_invalid("line_items", f"A payment link has at most {MAX_LINE_ITEMS} items.")
    items: list[Obj] = []
    currency: str | None = None
    for i, raw in enumerate(raw_items):
        item = _line_item(tx, raw, i, currency)
        currency = item["currency"]
        items.append(item)
    assert currency is not None
    data = shape(ids.new_id("plink"), currency, ids.random_token(22))
    if "active" in params:
        data["active"] = get_bool(params, "active", True)
    apply_metadata(data, params)
    tx.new_record("payment_link", data, meta={"line_items": items})
    tx.emit("payment_link.created", data)
    return data


def update(tx: Tx, link_id: str, params: Params) -> Obj:
    rec = tx.get("payment_link", link_id)
    before = snapshot(rec.data)
    if "active" in params:
        rec.data["active"] = get_bool(params, "active", True)
    apply_metadata(rec.data, params)
    tx.save(rec)
    tx.emit_update("payment_link.updated", before, rec.data)
    return rec.data


def line_items(tx: Tx, link_id: str) -> Obj:
    rec = tx.get("payment_link", link_id)
    rows = list(rec.meta.get("line_items") or [])
    return {
        "object": "list",
        "data": rows,
        "has_more": False,
        "url": f"/v1/payment_links/{link_id}/line_items",
    }


def included_line_items(tx: Tx, link: Obj) -> Obj:
    """``expand[]=line_items`` on a payment link."""
    return line_items(tx, str(link["id"]))
