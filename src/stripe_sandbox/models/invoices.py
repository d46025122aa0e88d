"""Invoices, invoice items, and collecting payment for an invoice (attempts and dunning)."""

from __future__ import annotations

from typing import Any

from stripe_sandbox import ids, schedule, shapes
from stripe_sandbox.errors import CardError, InvalidRequestError
from stripe_sandbox.models import customers, payments, subscription_status
from stripe_sandbox.models.common import (
    Obj,
    amount,
    apply_metadata,
    apply_simple,
    currency,
    require_str,
    snapshot,
)
from stripe_sandbox.params import Params, get_bool, get_int, get_str
from stripe_sandbox.state import Tx
from stripe_sandbox.store import Record

# ---- invoice items -------------------------------------------------------------------------


def create_item(tx: Tx, params: Params) -> Obj:
    customer_id = require_str(params, "customer")
    cust = tx.get("customer", customer_id, "customer")
    price_obj = None
    quantity = get_int(params, "quantity", 1) or 1
    if params.get("price"):
        price_obj = tx.get("price", params["price"], "price").data
        cur = price_obj["currency"]
        value = int(price_obj["unit_amount"]) * quantity
    else:
        cur = currency(params) or "usd"
        unit = amount(params, "unit_amount", required=False)
        value = unit * quantity if unit is not None else (amount(params, "amount") or 0)
    now = tx.now(cust.clock)
    data = shapes.invoiceitem(ids.id_for("invoiceitem"), now, customer_id, value, cur)
    data["quantity"] = quantity
    data["quantity_decimal"] = str(quantity)
    data["test_clock"] = cust.clock
    if price_obj:
        data["pricing"] = {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        }
    else:
        data["pricing"]["unit_amount_decimal"] = str(value // quantity)
    apply_simple(data, params, ("description",))
    if "discountable" in params:
        data["discountable"] = get_bool(params, "discountable", True)
    apply_metadata(data, params)
    invoice_id = get_str(params, "invoice")
    rec = tx.new_record("invoiceitem", data, customer=customer_id, clock=cust.clock)
    tx.emit("invoiceitem.created", data)
    if invoice_id:
        inv = tx.get("invoice", invoice_id, "invoice")
        _require_draft(inv)
        add_item_line(tx, inv, rec)
        tx.save(inv)
        tx.save(rec)
    return data


def update_item(tx: Tx, item_id: str, params: Params) -> Obj:
    rec = tx.get("invoiceitem", item_id)
    before = snapshot(rec.data)
    apply_simple(rec.data, params, ("description",))
    if "amount" in params and rec.data["invoice"] is None:
        rec.data["amount"] = rec.data["net_amount"] = amount(params, "amount")
    apply_metadata(rec.data, params)
    tx.save(rec)
    tx.emit_update("invoiceitem.updated", before, rec.data)
    return rec.data


def delete_item(tx: Tx, item_id: str) -> Obj:
    rec = tx.get("invoiceitem", item_id)
    if rec.data["invoice"]:
        inv = tx.get("invoice", rec.data["invoice"])
        _require_draft(inv)
        inv.data["lines"]["data"] = [
            line
            for line in inv.data["lines"]["data"]
            if (line["parent"] or {}).get("invoice_item_details", {}).get("invoice_item") != item_id
        ]
        recompute(inv.data)
        tx.save(inv)
    tx.store.delete(item_id)
    tx.emit("invoiceitem.deleted", rec.data)
    return shapes.deleted(item_id, "invoiceitem")


def add_item_line(tx: Tx, inv: Record, item: Record) -> None:
    """The invoice item as a line of the draft `inv` (its totals recomputed)."""
    data = item.data
    price_obj = None
    details = (data.get("pricing") or {}).get("price_details")
    if details:
        found = tx.find("price", details["price"])
        price_obj = found.data if found else None
    parent = {
        "invoice_item_details": {
            "invoice_item": data["id"],
            "proration": data["proration"],
            "proration_details": {"credited_items": None},
            "subscription": (data["parent"] or {})
            .get("subscription_details", {})
            .get("subscription"),
        },
        "subscription_item_details": None,
        "type": "invoice_item_details",
    }
    line = shapes.line_item(
        ids.id_for("line_item"),
        inv.id,
        data["amount"],
        data["currency"],
        data["description"],
        data["quantity"],
        data["period"]["start"],
        data["period"]["end"],
        parent,
        price_obj,
        None,
    )
    inv.data["lines"]["data"].append(line)
    recompute(inv.data)
    data["invoice"] = inv.id
    item.parent = inv.id


# ---- invoices ------------------------------------------------------------------------------


def new_invoice(
    tx: Tx,
    cust: Record,
    *,
    cur: str,
    billing_reason: str,
    subscription: Obj | None = None,
    period: tuple[int, int] | None = None,
) -> Record:
    now = tx.now(cust.clock)
    data = shapes.invoice(ids.id_for("invoice"), now, cust.data, cur)
    data["billing_reason"] = billing_reason
    if period is not None:
        data["period_start"], data["period_end"] = period
    if subscription is not None:
        data["parent"] = {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
                "subscription_proration_date": None,
            },
            "type": "subscription_details",
        }
        data["collection_method"] = subscription["collection_method"]
        data["default_payment_method"] = None
        data["auto_advance"] = True
    return tx.new_record(
        "invoice",
        data,
        customer=cust.id,
        clock=cust.clock,
        parent=subscription["id"] if subscription else None,
    )


def subscription_lines(tx: Tx, inv: Record, sub: Obj, start: int, end: int, trial: bool) -> None:
    for item in sub["items"]["data"]:
        price_obj = item["price"]
        product = tx.find("product", str(price_obj["product"]))
        product_name = str(product.data["name"]) if product else str(price_obj["product"])
        qty = int(item["quantity"])
        amount_value = 0 if trial else int(price_obj["unit_amount"]) * qty
        description = (
            f"Trial period for {product_name}" if trial else f"{qty} \u00d7 {product_name}"
        )
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        }
        inv.data["lines"]["data"].append(
            shapes.line_item(
                ids.id_for("line_item"),
                inv.id,
                amount_value,
                inv.data["currency"],
                description,
                qty,
                start,
                end,
                parent,
                price_obj,
                sub["id"],
            )
        )
    recompute(inv.data)


def recompute(inv: Obj) -> None:
    total = sum(int(line["amount"]) for line in inv["lines"]["data"])
    lines = inv["lines"]
    lines["total_count"] = len(lines["data"])
    inv.update(subtotal=total, subtotal_excluding_tax=total, total=total, total_excluding_tax=total)
    due = max(0, total + int(inv.get("starting_balance") or 0))
    inv["amount_due"] = due
    inv["amount_remaining"] = max(0, due - int(inv["amount_paid"]))


def create(tx: Tx, params: Params) -> Obj:
    customer_id = require_str(params, "customer")
    cust = tx.get("customer", customer_id, "customer")
    pending = tx.store.find("invoiceitem", [("customer", customer_id), ("parent", None)])
    behavior = params.get("pending_invoice_items_behavior", "exclude")
    cur = currency(params, required=False) or (pending[0].data["currency"] if pending else "usd")
    rec = new_invoice(tx, cust, cur=cur, billing_reason="manual")
    data = rec.data
    data["auto_advance"] = get_bool(params, "auto_advance", False)
    method = params.get("collection_method", "charge_automatically")
    if method not in ("charge_automatically", "send_invoice"):
        raise InvalidRequestError(f"Invalid collection_method: {method}", param="collection_method")
    data["collection_method"] = method
    if method == "send_invoice":
        days = get_int(params, "days_until_due")
        due_date = get_int(params, "due_date")
        if days is None and due_date is None:
            raise InvalidRequestError(
                "Invoices with `collection_method=send_invoice` must have a `due_date` or "
                "`days_until_due`.",
                param="days_until_due",
            )
        data["due_date"] = due_date or data["created"] + int(days or 0) * schedule.DAY
    apply_simple(
        data, params, ("description", "footer", "statement_descriptor", "default_payment_method")
    )
    apply_metadata(data, params)
    tx.save(rec)
    tx.emit("invoice.created", data)
    if behavior == "include":
        for item in pending:
            if item.data["currency"] == cur:
                add_item_line(tx, rec, item)
                tx.save(item)
        tx.save(rec)
    return data


def _require_draft(inv: Record) -> None:
    if inv.data["status"] != "draft":
        raise InvalidRequestError(
            f"You can only modify draft invoices. This invoice is {inv.data['status']}.",
            code="invoice_not_editable",
        )


def update(tx: Tx, invoice_id: str, params: Params) -> Obj:
    rec = tx.get("invoice", invoice_id)
    before = snapshot(rec.data)
    if rec.data["status"] == "draft":
        apply_simple(
            rec.data,
            params,
            ("description", "footer", "statement_descriptor", "default_payment_method"),
        )
        if "auto_advance" in params:
            rec.data["auto_advance"] = get_bool(params, "auto_advance", False)
    apply_metadata(rec.data, params)
    tx.save(rec)
    tx.emit_update("invoice.updated", before, rec.data)
    return rec.data


def delete(tx: Tx, invoice_id: str) -> Obj:
    rec = tx.get("invoice", invoice_id)
    if rec.data["status"] != "draft":
        raise InvalidRequestError("You can only delete draft invoices.")
    for item in tx.store.find("invoiceitem", [("parent", invoice_id)]):
        item.data["invoice"] = None
        item.parent = None
        tx.save(item)
    tx.store.delete(invoice_id)
    tx.emit("invoice.deleted", rec.data)
    return shapes.deleted(invoice_id, "invoice")


def finalize(tx: Tx, rec: Record, *, automatic: bool = False) -> Obj:
    data = rec.data
    if data["status"] != "draft":
        raise InvalidRequestError(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    now = tx.now(rec.clock)
    cust = tx.find("customer", str(data["customer"]))
    seq = 1
    prefix = data["customer"][-8:].upper()
    if cust is not None:
        seq = int(cust.data.get("next_invoice_sequence") or 1)
        prefix = str(cust.data.get("invoice_prefix") or prefix)
        cust.data["next_invoice_sequence"] = seq + 1
        tx.save(cust)
    token = ids.random_token(40)
    data.update(
        status="open",
        number=f"{prefix}-{seq:04d}",
        effective_at=now,
        hosted_invoice_url=f"https://invoice.stripe.com/i/acct_sandbox/test_{token}",
        invoice_pdf=f"https://pay.stripe.com/invoice/acct_sandbox/test_{token}/pdf",
        automatically_finalizes_at=None,
    )
    data["status_transitions"]["finalized_at"] = now
    if data["collection_method"] == "charge_automatically" and data["amount_due"] > 0:
        data["next_payment_attempt"] = now if data["auto_advance"] else None
    rec.due_at = None
    tx.save(rec)
    tx.emit("invoice.finalized", data, automatic=automatic)
    if data["amount_due"] == 0:
        _mark_paid(tx, rec, None, automatic=automatic)
    return data


def finalize_api(tx: Tx, invoice_id: str, params: Params) -> Obj:
    rec = tx.get("invoice", invoice_id)
    if "auto_advance" in params:
        rec.data["auto_advance"] = get_bool(params, "auto_advance", False)
    return finalize(tx, rec)


def _payment_method_for(tx: Tx, inv: Obj, explicit: str | None) -> Record | None:
    if explicit:
        return payments.resolve_payment_method(tx, explicit)
    if inv.get("default_payment_method"):
        return tx.find("payment_method", str(inv["default_payment_method"]))
    sub_id = ((inv.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    if sub_id:
        sub = tx.find("subscription", sub_id)
        if sub is not None and sub.data.get("default_payment_method"):
            return tx.find("payment_method", str(sub.data["default_payment_method"]))
    cust = tx.find("customer", str(inv["customer"]))
    if cust is not None:
        pm_id = customers.default_payment_method(tx, cust.data)
        if pm_id:
            return tx.find("payment_method", pm_id)
    return None


def attempt(tx: Tx, rec: Record, *, pm_id: str | None = None, automatic: bool = True) -> bool:
    """One payment attempt; returns whether the invoice is now paid."""
    inv = rec.data
    pm = _payment_method_for(tx, inv, pm_id)
    now = tx.now(rec.clock)
    before = snapshot(inv)
    inv["attempt_count"] += 1
    inv["attempted"] = True
    charge = None
    if pm is not None:
        pi_rec = _payment_intent_for(tx, rec, pm)
        charge = payments.charge_payment(tx, pi_rec, pm)
        succeeded = charge["status"] == "succeeded"
    else:
        succeeded = False
    if succeeded:
        assert charge is not None
        _mark_paid(tx, rec, charge, automatic=automatic, before=before)
        return True
    retry_at = None
    if inv["auto_advance"] and automatic:
        retry_at = schedule.next_retry(now, inv["attempt_count"], tx.sb.settings.dunning_retry_days)
    elif inv["auto_advance"]:
        retry_at = inv["next_payment_attempt"] if inv["next_payment_attempt"] else None
    inv["next_payment_attempt"] = retry_at
    rec.due_at = retry_at
    if inv["billing_reason"] == "subscription_create":
        rec.due_at = None
        inv["next_payment_attempt"] = None
    tx.save(rec)
    tx.emit("invoice.payment_failed", inv, automatic=automatic)
    tx.emit_update("invoice.updated", before, inv, automatic=automatic)
    subscription_status.on_invoice_failed(tx, rec, final=retry_at is None, automatic=automatic)
    return False


def _payment_intent_for(tx: Tx, rec: Record, pm: Record) -> Record:
    inv = rec.data
    pi = shapes.payment_intent(
        ids.id_for("payment_intent"),
        tx.now(rec.clock),
        inv["amount_remaining"],
        inv["currency"],
        ids.random_token(25),
    )
    reason = inv["billing_reason"]
    pi.update(
        customer=inv["customer"],
        payment_method=pm.id,
        status="requires_confirmation",
        description={
            "subscription_create": "Subscription creation",
            "subscription_cycle": "Subscription update",
            "subscription_update": "Subscription update",
        }.get(reason, inv["description"]),
        setup_future_usage=None,
    )
    pi_rec = tx.new_record(
        "payment_intent", pi, customer=inv["customer"], clock=rec.clock, meta={"invoice": rec.id}
    )
    payment = shapes.invoice_payment(
        ids.id_for("invoice_payment"),
        tx.now(rec.clock),
        rec.id,
        pi["amount"],
        pi["currency"],
        pi["id"],
    )
    tx.new_record(
        "invoice_payment", payment, customer=inv["customer"], parent=rec.id, clock=rec.clock
    )
    tx.emit("payment_intent.created", pi, automatic=True)
    return pi_rec


def _mark_paid(
    tx: Tx,
    rec: Record,
    charge: Obj | None,
    *,
    automatic: bool,
    before: Obj | None = None,
    out_of_band: bool = False,
) -> None:
    inv = rec.data
    now = tx.now(rec.clock)
    paid = inv["amount_remaining"]
    inv.update(
        status="paid",
        amount_paid=inv["amount_paid"] + paid,
        amount_remaining=0,
        next_payment_attempt=None,
        attempted=True,
    )
    if out_of_band:
        inv["amount_paid_off_stripe"] += paid
    inv["status_transitions"]["paid_at"] = now
    rec.due_at = None
    tx.save(rec)
    if charge is not None:
        for pay in tx.store.find("invoice_payment", [("parent", rec.id)]):
            if pay.data["payment"]["payment_intent"] == charge["payment_intent"]:
                pay.data.update(status="paid", amount_paid=charge["amount"])
                pay.data["status_transitions"]["paid_at"] = now
                tx.save(pay)
                tx.emit("invoice_payment.paid", pay.data, automatic=automatic)
    tx.emit("invoice.paid", inv, automatic=automatic)
    tx.emit("invoice.payment_succeeded", inv, automatic=automatic)
    subscription_status.on_invoice_paid(tx, rec, automatic=automatic)


def pay_api(tx: Tx, invoice_id: str, params: Params) -> Obj:
    rec = tx.get("invoice", invoice_id)
    inv = rec.data
    if inv["status"] == "draft":
        finalize(tx, rec)
    if inv["status"] == "paid":
        raise InvalidRequestError("Invoice is already paid")
    if inv["status"] != "open":
        raise InvalidRequestError(
            f"This invoice can't be paid because it is {inv['status']}.",
            code="invoice_not_editable",
        )
    if get_bool(params, "paid_out_of_band", False):
        _mark_paid(tx, rec, None, automatic=False, out_of_band=True)
        return inv
    pm_id = get_str(params, "payment_method")
    if not pm_id and _payment_method_for(tx, inv, None) is None:
        raise InvalidRequestError(
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method.",
            code="resource_missing",
        )
    if not attempt(tx, rec, pm_id=pm_id, automatic=False):
        raise CardError(
            "Your card was declined.",
            code="card_declined",
            extra={"decline_code": _last_decline(tx, rec)},
        )
    return inv


def _last_decline(tx: Tx, rec: Record) -> Any:
    for pay in tx.store.find("invoice_payment", [("parent", rec.id)], order="DESC"):
        pi = tx.find("payment_intent", pay.data["payment"]["payment_intent"])
        if pi is not None and pi.data.get("last_payment_error"):
            return pi.data["last_payment_error"].get("decline_code")
    return "generic_decline"


def void_api(tx: Tx, invoice_id: str) -> Obj:
    rec = tx.get("invoice", invoice_id)
    inv = rec.data
    if inv["status"] not in ("open", "uncollectible"):
        raise InvalidRequestError(
            f"You can only void open invoices. This invoice is {inv['status']}."
        )
    void(tx, rec, automatic=False)
    return inv


def void(tx: Tx, rec: Record, *, automatic: bool) -> None:
    inv = rec.data
    inv.update(status="void", next_payment_attempt=None, amount_remaining=0)
    inv["status_transitions"]["voided_at"] = tx.now(rec.clock)
    rec.due_at = None
    tx.save(rec)
    tx.emit("invoice.voided", inv, automatic=automatic)


def mark_uncollectible(tx: Tx, invoice_id: str) -> Obj:
    rec = tx.get("invoice", invoice_id)
    inv = rec.data
    if inv["status"] != "open":
        raise InvalidRequestError("You can only mark open invoices as uncollectible.")
    _uncollectible(tx, rec, automatic=False)
    return inv


def _uncollectible(tx: Tx, rec: Record, *, automatic: bool) -> None:
    inv = rec.data
    inv.update(status="uncollectible", next_payment_attempt=None)
    inv["status_transitions"]["marked_uncollectible_at"] = tx.now(rec.clock)
    rec.due_at = None
    tx.save(rec)
    tx.emit("invoice.marked_uncollectible", inv, automatic=automatic)


def send(tx: Tx, invoice_id: str) -> Obj:
    rec = tx.get("invoice", invoice_id)
    if rec.data["status"] == "draft":
        finalize(tx, rec)
    tx.emit("invoice.sent", rec.data)
    return rec.data


def process_due(tx: Tx, rec: Record) -> None:
    """Automatic collection: finalize a draft after its delay, then (re)try payment."""
    inv = rec.data
    if inv["status"] == "draft":
        finalize(tx, rec, automatic=True)
        paused = rec.meta.get("pause_collection")
        if inv["status"] == "open" and paused == "void":
            void(tx, rec, automatic=True)
        elif inv["status"] == "open" and paused == "mark_uncollectible":
            _uncollectible(tx, rec, automatic=True)
        elif inv["status"] == "open" and inv["collection_method"] == "charge_automatically":
            attempt(tx, rec, automatic=True)
        return
    if inv["status"] == "open" and inv["next_payment_attempt"] is not None:
        attempt(tx, rec, automatic=True)
        return
    rec.due_at = None
    tx.save(rec)


def lines_page(tx: Tx, invoice_id: str) -> Obj:
    return tx.get("invoice", invoice_id).data["lines"]
