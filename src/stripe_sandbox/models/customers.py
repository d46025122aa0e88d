"""Customers."""

from __future__ import annotations

import re

from stripe_sandbox import ids, shapes
from stripe_sandbox.errors import InvalidRequestError, missing
from stripe_sandbox.models import payments
from stripe_sandbox.models.common import Obj, apply_metadata, apply_simple, snapshot
from stripe_sandbox.models.subscription_status import cancel_now
from stripe_sandbox.params import Params, get_dict
from stripe_sandbox.state import Tx

SIMPLE = (
    "email",
    "name",
    "description",
    "phone",
    "balance",
    "preferred_locales",
    "tax_exempt",
    "invoice_prefix",
    "business_name",
    "individual_name",
)


# what Stripe accepts as an email: one @, no spaces (it answers 400 email_invalid otherwise)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _apply(tx: Tx, data: Obj, params: Params) -> None:
    email = params.get("email")
    if isinstance(email, str) and email and not _EMAIL.match(email):
        raise InvalidRequestError(
            f"Invalid email address: {email}", code="email_invalid", param="email"
        )
    apply_simple(data, params, SIMPLE)
    if "balance" in params:
        data["balance"] = int(params["balance"] or 0)
    if "address" in params:
        data["address"] = shapes.address(params["address"]) if params["address"] else None
    if "shipping" in params:
        data["shipping"] = shapes.shipping(params["shipping"])
    apply_metadata(data, params)


def create(tx: Tx, params: Params) -> Obj:
    clock_id = params.get("test_clock") or None
    if clock_id:
        tx.get("test_helpers.test_clock", clock_id, "test_clock")
    data = shapes.customer(ids.id_for("customer"), tx.now(clock_id))
    data["test_clock"] = clock_id
    _apply(tx, data, params)
    rec = tx.new_record("customer", data, customer=data["id"], clock=clock_id)
    pm_value = params.get("payment_method")
    settings = get_dict(params, "invoice_settings")
    pm_rec = None
    if pm_value:
        pm_rec = payments.resolve_payment_method(tx, str(pm_value), "payment_method")
        payments.check_attachable(pm_rec)
    default_pm = settings.get("default_payment_method")
    if default_pm and pm_rec is not None and default_pm == pm_value:
        data["invoice_settings"]["default_payment_method"] = pm_rec.id
    elif default_pm:
        default_rec = payments.resolve_payment_method(
            tx, str(default_pm), "invoice_settings[default_payment_method]"
        )
        data["invoice_settings"]["default_payment_method"] = default_rec.id
    tx.save(rec)
    tx.emit("customer.created", data)
    if pm_rec is not None:
        payments.attach(tx, pm_rec, data["id"])
    return data


def retrieve(tx: Tx, customer_id: str) -> Obj:
    rec = tx.store.get(customer_id)  # a customer, or its stub once deleted
    if rec is not None and rec.type == "deleted.customer":
        return shapes.deleted(customer_id, "customer")
    if rec is None or rec.type != "customer":
        raise missing("customer", customer_id)
    return rec.data


def update(tx: Tx, customer_id: str, params: Params) -> Obj:
    rec = tx.get("customer", customer_id)
    before = snapshot(rec.data)
    _apply(tx, rec.data, params)
    settings = params.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        value = settings["default_payment_method"]
        if value:
            pm = tx.get("payment_method", value, "invoice_settings[default_payment_method]")
            if pm.data.get("customer") != customer_id:
                raise InvalidRequestError(
                    f"The customer does not have a payment method with the ID {value}. The "
                    "payment method must be attached to the customer.",
                    code="resource_missing",
                    param="invoice_settings[default_payment_method]",
                )
            rec.data["invoice_settings"]["default_payment_method"] = value
        else:
            rec.data["invoice_settings"]["default_payment_method"] = None
    tx.save(rec)
    tx.emit_update("customer.updated", before, rec.data)
    return rec.data


def delete(tx: Tx, customer_id: str) -> Obj:
    rec = tx.get("customer", customer_id)
    for sub in tx.store.find("subscription", [("customer", customer_id)]):
        if sub.data["status"] not in ("canceled", "incomplete_expired"):
            cancel_now(tx, sub, reason="cancellation_requested", automatic=False)
    for pm in tx.store.find("payment_method", [("customer", customer_id)]):
        pm.data["customer"] = None
        pm.customer = None
        tx.save(pm)
    tx.store.delete(customer_id)
    stub = shapes.deleted(customer_id, "customer")
    # Stripe still answers a retrieve of a deleted customer, with this stub
    tx.new_record("deleted.customer", {**stub, "created": rec.data["created"]})
    tx.emit("customer.deleted", rec.data)
    return stub


def default_payment_method(tx: Tx, customer: Obj) -> str | None:
    value = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return str(value) if value else None
