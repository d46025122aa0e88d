"""Subscriptions: creation with the first invoice, trials, renewals, dunning outcomes,
cancellation, pausing and resuming."""

from __future__ import annotations

import copy
from typing import Any

from stripe_sandbox import ids, schedule, shapes
from stripe_sandbox.errors import CardError, InvalidRequestError, param_invalid, param_required
from stripe_sandbox.models import catalog, customers, invoices, payments
from stripe_sandbox.models.common import Obj, apply_metadata, apply_simple, require_str, snapshot
from stripe_sandbox.models.subscription_status import (
    LIVE,
    UPDATE_EVENT,
    cancel_now,
    pending_actions,
    period,
    reschedule,
)
from stripe_sandbox.params import Params, get_bool, get_dict, get_int, get_list, get_str
from stripe_sandbox.state import Tx
from stripe_sandbox.store import Record


def _price_for_item(tx: Tx, item: Params, index: int, cur: str | None) -> Obj:
    if item.get("price"):
        price = tx.get("price", item["price"], f"items[{index}][price]").data
    elif isinstance(item.get("price_data"), dict):
        pd = dict(item["price_data"])
        price = catalog.create_price(tx, pd)
    else:
        raise param_required(f"items[{index}][price]")
    if price["type"] != "recurring":
        raise InvalidRequestError(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=f"items[{index}][price]",
        )
    if cur is not None and price["currency"] != cur:
        raise InvalidRequestError(
            "All prices on a subscription must have the same `currency`.",
            param=f"items[{index}][price]",
        )
    return price


def _item(tx: Tx, sub_id: str, price: Obj, qty: int, start: int, end: int, meta: Any) -> Obj:
    item = shapes.subscription_item(
        ids.id_for("subscription_item"), start, sub_id, copy.deepcopy(price), qty, start, end
    )
    if isinstance(meta, dict):
        item["metadata"] = {str(k): str(v) for k, v in meta.items()}
    return item


def _interval(data: Obj) -> tuple[str, int]:
    rec = data["items"]["data"][0]["price"]["recurring"]
    return str(rec["interval"]), int(rec["interval_count"])


def _set_period(data: Obj, start: int, end: int) -> None:
    for item in data["items"]["data"]:
        item["current_period_start"] = start
        item["current_period_end"] = end


def _resolve_default_pm(tx: Tx, value: str, customer_id: str) -> str:
    pm = payments.resolve_payment_method(tx, value, "default_payment_method")
    if pm.data.get("customer") is None:
        payments.attach(tx, pm, customer_id)
    elif pm.data["customer"] != customer_id:
        raise InvalidRequestError(
            "The payment method must be attached to the customer.",
            param="default_payment_method",
        )
    return pm.id


def has_payment_method(tx: Tx, data: Obj) -> bool:
    if data.get("default_payment_method"):
        return True
    cust = tx.find("customer", str(data["customer"]))
    return bool(cust and customers.default_payment_method(tx, cust.data))


def create(tx: Tx, params: Params) -> Obj:
    customer_id = require_str(params, "customer")
    cust = tx.get("customer", customer_id, "customer")
    now = tx.now(cust.clock)
    raw_items = get_list(params, "items")
    if not raw_items:
        raise param_required("items")
    sub_id = ids.id_for("subscription")
    chosen: list[tuple[Obj, int, Any]] = []
    cur: str | None = None
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            raise param_invalid(f"items[{i}]", "Invalid hash")
        price = _price_for_item(tx, raw, i, cur)
        cur = price["currency"]
        chosen.append((price, get_int(raw, "quantity", 1) or 1, raw.get("metadata")))
    assert cur is not None
    data = shapes.subscription(sub_id, now, customer_id, cur)
    data["test_clock"] = cust.clock
    apply_simple(data, params, ("description",))
    apply_metadata(data, params)
    method = params.get("collection_method", "charge_automatically")
    if method not in ("charge_automatically", "send_invoice"):
        raise param_invalid("collection_method", f"Invalid collection_method: {method}")
    data["collection_method"] = method
    if method == "send_invoice":
        data["days_until_due"] = get_int(params, "days_until_due", 30)
    if params.get("default_payment_method"):
        data["default_payment_method"] = _resolve_default_pm(
            tx, str(params["default_payment_method"]), customer_id
        )
    behaviour = get_dict(get_dict(params, "trial_settings"), "end_behavior")
    if behaviour.get("missing_payment_method") in ("cancel", "pause", "create_invoice"):
        data["trial_settings"]["end_behavior"]["missing_payment_method"] = behaviour[
            "missing_payment_method"
        ]
    trial_end = _trial_end(params, now, chosen[0][0])
    interval = chosen[0][0]["recurring"]
    if trial_end is not None and trial_end > now:
        start, end = now, trial_end
        data.update(
            status="trialing", trial_start=now, trial_end=trial_end, billing_cycle_anchor=trial_end
        )
    else:
        start, end = (
            now,
            schedule.add_interval(now, interval["interval"], interval["interval_count"]),
        )
    data["items"]["data"] = [_item(tx, sub_id, p, q, start, end, m) for p, q, m in chosen]
    data["items"]["total_count"] = len(chosen)
    if get_bool(params, "cancel_at_period_end", False):
        data.update(cancel_at_period_end=True, cancel_at=end, canceled_at=now)
    elif get_int(params, "cancel_at"):
        data["cancel_at"] = get_int(params, "cancel_at")
    payment_behavior = params.get("payment_behavior", "allow_incomplete")
    if (
        data["status"] != "trialing"
        and method == "charge_automatically"
        and payment_behavior != "default_incomplete"
        and not has_payment_method(tx, data)
    ):
        raise InvalidRequestError(
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method. For more information, visit "
            "https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method"
            "-priority.",
            code="resource_missing",
        )
    rec = tx.new_record(
        "subscription",
        data,
        customer=customer_id,
        clock=cust.clock,
        meta={"creating": True, "anchor": data["billing_cycle_anchor"]},
    )
    created_event = tx.emit("customer.subscription.created", data)
    inv = invoices.new_invoice(
        tx,
        cust,
        cur=cur,
        billing_reason="subscription_create",
        subscription=data,
        period=(now, now),
    )
    invoices.subscription_lines(tx, inv, data, start, end, trial=data["status"] == "trialing")
    _add_invoice_items(tx, inv, params, customer_id, cur)
    data["latest_invoice"] = inv.id
    tx.save(rec)
    tx.save(inv)
    tx.emit("invoice.created", inv.data)
    if data["status"] == "trialing":
        invoices.finalize(tx, inv)
    elif method == "send_invoice":
        inv.data["due_date"] = now + int(data["days_until_due"] or 0) * schedule.DAY
        invoices.finalize(tx, inv)
        _set_status_if(tx, sub_id, "incomplete", "active")
    else:
        invoices.finalize(tx, inv)
        if payment_behavior != "default_incomplete" and inv.data["status"] == "open":
            paid = invoices.attempt(tx, inv, automatic=False)
            if not paid and payment_behavior == "error_if_incomplete":
                declined = CardError("Your card was declined.", code="card_declined")
                declined.rollback = True  # Stripe creates no subscription then
                raise declined
    rec = tx.get("subscription", sub_id)
    rec.meta.pop("creating", None)
    reschedule(tx, rec)
    created_event["data"]["object"] = snapshot(rec.data)
    tx.store.update_event(created_event)
    if rec.data["status"] == "trialing":
        process_due(tx, rec)
    return rec.data


def _add_invoice_items(tx: Tx, inv: Record, params: Params, customer_id: str, cur: str) -> None:
    """`add_invoice_items`: one-time prices billed once, as invoice items of the first
    invoice (up to 20)."""
    raw_items = get_list(params, "add_invoice_items")
    if len(raw_items) > 20:
        raise param_invalid("add_invoice_items", "You may pass up to 20 add_invoice_items.")
    for i, raw in enumerate(raw_items):
        if not isinstance(raw, dict) or not raw.get("price"):
            raise param_invalid(f"add_invoice_items[{i}][price]", "Missing required param.")
        price = tx.get("price", str(raw["price"]), "price").data
        if price.get("recurring"):
            raise param_invalid(
                f"add_invoice_items[{i}][price]",
                f"The price specified is set to `type=recurring` but this field only accepts "
                f"prices with `type=one_time`: {price['id']}",
            )
        if price["currency"] != cur:
            raise param_invalid(
                f"add_invoice_items[{i}][price]",
                f"The price currency ({price['currency']}) does not match the subscription "
                f"currency ({cur}).",
            )
        item = {"customer": customer_id, "price": price["id"], "quantity": raw.get("quantity", 1)}
        if isinstance(raw.get("metadata"), dict):
            item["metadata"] = raw["metadata"]
        made = invoices.create_item(tx, item)
        rec = tx.get("invoiceitem", str(made["id"]))
        invoices.add_item_line(tx, inv, rec)
        tx.save(rec)


def _set_status_if(tx: Tx, sub_id: str, old: str, new: str) -> None:
    rec = tx.get("subscription", sub_id)
    if rec.data["status"] == old:
        rec.data["status"] = new
        tx.save(rec)


def _trial_end(params: Params, now: int, price: Obj) -> int | None:
    if params.get("trial_end") not in (None, ""):
        if params["trial_end"] == "now":
            return None
        value = get_int(params, "trial_end")
        assert value is not None
        if value <= now:
            raise param_invalid(
                "trial_end", "Invalid timestamp: must be an integer Unix timestamp in the future."
            )
        return value
    days = get_int(params, "trial_period_days")
    if days is None and get_bool(params, "trial_from_plan", False):
        days = price["recurring"].get("trial_period_days")
    if days:
        return now + days * schedule.DAY
    return None


# ---- schedule ------------------------------------------------------------------------------


def process_due(tx: Tx, rec: Record) -> None:
    now = tx.now(rec.clock)
    actions = pending_actions(tx, rec)
    if not actions or actions[0][0] > now:
        reschedule(tx, rec)
        return
    _, action = actions[0]
    if action == "trial_will_end":
        rec.meta["trial_will_end_sent"] = True
        tx.save(rec)
        tx.emit("customer.subscription.trial_will_end", rec.data, automatic=True)
    elif action == "expire":
        before = snapshot(rec.data)
        rec.data.update(status="incomplete_expired", ended_at=now)
        tx.save(rec)
        latest = tx.find("invoice", str(rec.data["latest_invoice"]))
        if latest is not None and latest.data["status"] == "open":
            invoices.void(tx, latest, automatic=True)
        tx.emit_update(UPDATE_EVENT, before, rec.data, automatic=True)
    elif action == "cancel":
        cancel_now(tx, rec, reason="cancellation_requested", automatic=True)
    elif action == "resume_collection":
        before = snapshot(rec.data)
        rec.data["pause_collection"] = None
        tx.save(rec)
        tx.emit_update(UPDATE_EVENT, before, rec.data, automatic=True)
    else:
        renew(tx, rec)
    rec = tx.get("subscription", rec.id)
    reschedule(tx, rec)


def renew(tx: Tx, rec: Record, *, now: int | None = None, before: Obj | None = None) -> None:
    """Start the next period (ending a trial first) and open its invoice. ``before`` is the
    state to diff ``customer.subscription.updated`` against when a caller changed it first."""
    data = rec.data
    now = tx.now(rec.clock) if now is None else now
    old_start, old_end = period(data)
    before = snapshot(data) if before is None else before
    if data["status"] == "trialing":
        missing = data["trial_settings"]["end_behavior"]["missing_payment_method"]
        if not has_payment_method(tx, data) and missing == "pause":
            data.update(
                status="paused",
                status_details=_paused_details("trial_end_without_payment_method", now),
            )
            tx.save(rec)
            tx.emit("customer.subscription.paused", data, automatic=True)
            tx.emit_update(UPDATE_EVENT, before, data, automatic=True)
            return
        if not has_payment_method(tx, data) and missing == "cancel":
            cancel_now(tx, rec, reason="cancellation_requested", automatic=True)
            return
        data["status"] = "active"
    interval, count = _interval(data)
    anchor = int(rec.meta.get("anchor") or data["billing_cycle_anchor"])
    start = old_end
    end = schedule.period_end(anchor, start, interval, count)
    _set_period(data, start, end)
    tx.save(rec)
    tx.emit_update(UPDATE_EVENT, before, data, automatic=True)
    cust = tx.get("customer", str(data["customer"]))
    inv = invoices.new_invoice(
        tx,
        cust,
        cur=data["currency"],
        billing_reason="subscription_cycle",
        subscription=data,
        period=(old_start, old_end),
    )
    invoices.subscription_lines(tx, inv, data, start, end, trial=False)
    inv.data["automatically_finalizes_at"] = now + tx.sb.settings.invoice_finalize_delay_seconds
    if data["collection_method"] == "send_invoice":
        inv.data["due_date"] = now + int(data["days_until_due"] or 0) * schedule.DAY
    inv.due_at = inv.data["automatically_finalizes_at"]
    paused = (data.get("pause_collection") or {}).get("behavior")
    if paused == "keep_as_draft":
        inv.data.update(auto_advance=False, automatically_finalizes_at=None)
        inv.due_at = None
    elif paused:
        inv.meta["pause_collection"] = paused
    tx.save(inv)
    data["latest_invoice"] = inv.id
    tx.save(rec)
    tx.emit("invoice.created", inv.data, automatic=True)


def _paused_details(kind: str, now: int) -> Obj:
    return {
        "paused": {"subscription": {"type": kind}, "transitioned_at": now, "type": "subscription"}
    }


# ---- API operations ------------------------------------------------------------------------


def update(tx: Tx, sub_id: str, params: Params) -> Obj:
    rec = tx.get("subscription", sub_id)
    data = rec.data
    if data["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequestError(
            "A canceled subscription can only update its cancellation_details and metadata.",
        )
    before = snapshot(data)
    now = tx.now(rec.clock)
    apply_simple(data, params, ("description",))
    apply_metadata(data, params)
    if "default_payment_method" in params:
        value = params["default_payment_method"]
        data["default_payment_method"] = (
            _resolve_default_pm(tx, str(value), str(data["customer"])) if value else None
        )
    if "cancel_at_period_end" in params:
        if get_bool(params, "cancel_at_period_end", False):
            data.update(cancel_at_period_end=True, cancel_at=period(data)[1], canceled_at=now)
            data["cancellation_details"]["reason"] = "cancellation_requested"
        else:
            data.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
            data["cancellation_details"]["reason"] = None
    if "cancel_at" in params:
        value = get_int(params, "cancel_at")
        data.update(cancel_at=value, cancel_at_period_end=False, canceled_at=now if value else None)
    if isinstance(params.get("cancellation_details"), dict):
        for key in ("comment", "feedback"):
            if key in params["cancellation_details"]:
                data["cancellation_details"][key] = params["cancellation_details"][key] or None
    if "pause_collection" in params:
        pc = params["pause_collection"]
        if isinstance(pc, dict) and pc.get("behavior"):
            if pc["behavior"] not in ("keep_as_draft", "mark_uncollectible", "void"):
                raise param_invalid("pause_collection[behavior]", "Invalid behavior")
            data["pause_collection"] = {
                "behavior": pc["behavior"],
                "resumes_at": get_int(pc, "resumes_at"),
            }
        else:
            data["pause_collection"] = None
    if "items" in params:
        _update_items(tx, data, get_list(params, "items"), now)
    end_trial_now = False
    if "trial_end" in params and data["status"] == "trialing":
        if params["trial_end"] == "now":
            end_trial_now = True
            data["trial_end"] = now
            start, _ = period(data)
            _set_period(data, start, now)
        else:
            value = get_int(params, "trial_end")
            assert value is not None
            data["trial_end"] = value
            start, _ = period(data)
            _set_period(data, start, value)
            rec.meta["trial_will_end_sent"] = False
    tx.save(rec)
    reschedule(tx, rec)
    if not end_trial_now:
        tx.emit_update(UPDATE_EVENT, before, data)
    else:
        rec.meta["anchor"] = now
        data["billing_cycle_anchor"] = now
        tx.save(rec)
        renew(tx, rec, now=now, before=before)
        rec = tx.get("subscription", sub_id)
        if rec.data["status"] == "active":
            latest = tx.get("invoice", str(rec.data["latest_invoice"]))
            invoices.finalize(tx, latest)
            if latest.data["status"] == "open":
                invoices.attempt(tx, latest, automatic=True)
            rec = tx.get("subscription", sub_id)
        reschedule(tx, rec)
    return rec.data


def _update_items(tx: Tx, data: Obj, changes: list[Any], now: int) -> None:
    items = {item["id"]: item for item in data["items"]["data"]}
    start, end = period(data)
    for i, change in enumerate(changes):
        if not isinstance(change, dict):
            raise param_invalid(f"items[{i}]", "Invalid hash")
        item_id = change.get("id")
        if item_id:
            if item_id not in items:
                raise InvalidRequestError(
                    f"No such subscription item: '{item_id}'",
                    code="resource_missing",
                    param=f"items[{i}][id]",
                )
            item = items[item_id]
            if get_bool(change, "deleted", False):
                del items[item_id]
                continue
            if change.get("price") or change.get("price_data"):
                price = _price_for_item(tx, change, i, data["currency"])
                item["price"] = copy.deepcopy(price)
                item["plan"] = shapes.plan_from_price(price)
            if "quantity" in change:
                item["quantity"] = get_int(change, "quantity", 1)
            if isinstance(change.get("metadata"), dict):
                item["metadata"].update({str(k): str(v) for k, v in change["metadata"].items()})
        else:
            price = _price_for_item(tx, change, i, data["currency"])
            new = _item(
                tx,
                data["id"],
                price,
                get_int(change, "quantity", 1) or 1,
                start,
                end,
                change.get("metadata"),
            )
            new["created"] = now
            items[new["id"]] = new
    if not items:
        raise InvalidRequestError("A subscription must have at least one active plan.")
    data["items"]["data"] = list(items.values())
    data["items"]["total_count"] = len(items)


def cancel(tx: Tx, sub_id: str, params: Params) -> Obj:
    rec = tx.get("subscription", sub_id)
    if rec.data["status"] in ("canceled", "incomplete_expired"):
        raise InvalidRequestError(
            f"This subscription is already canceled: {sub_id}",
        )
    return cancel_now(
        tx,
        rec,
        reason="cancellation_requested",
        automatic=False,
        details=get_dict(params, "cancellation_details"),
    )


def pause(tx: Tx, sub_id: str, params: Params) -> Obj:
    rec = tx.get("subscription", sub_id)
    data = rec.data
    if data["status"] not in LIVE:
        raise InvalidRequestError(f"Cannot pause a subscription with status {data['status']}.")
    before = snapshot(data)
    now = tx.now(rec.clock)
    data.update(status="paused", status_details=_paused_details("pause_requested", now))
    rec.due_at = None
    tx.save(rec)
    tx.emit("customer.subscription.paused", data)
    tx.emit_update(UPDATE_EVENT, before, data)
    return data


def resume(tx: Tx, sub_id: str, params: Params) -> Obj:
    rec = tx.get("subscription", sub_id)
    data = rec.data
    if data["status"] != "paused":
        raise InvalidRequestError(
            "Only a paused subscription can be resumed.", param="subscription"
        )
    before = snapshot(data)
    now = tx.now(rec.clock)
    data.update(status="active", status_details=None, billing_cycle_anchor=now)
    rec.meta["anchor"] = now
    _set_period(data, now, now)
    tx.save(rec)
    tx.emit("customer.subscription.resumed", data)
    renew(tx, rec, now=now, before=before)
    rec = tx.get("subscription", sub_id)
    latest = tx.get("invoice", str(rec.data["latest_invoice"]))
    invoices.finalize(tx, latest)
    if latest.data["status"] == "open" and rec.data["collection_method"] == "charge_automatically":
        invoices.attempt(tx, latest, automatic=True)
    rec = tx.get("subscription", sub_id)
    reschedule(tx, rec)
    return rec.data


def list_filters(params: Params) -> list[tuple[str, Any]]:
    filters: list[tuple[str, Any]] = []
    if params.get("customer"):
        filters.append(("customer", params["customer"]))
    status = get_str(params, "status")
    if status and status != "all":
        filters.append(("json_extract(data, '$.status') = ?", status))
    elif not status:
        filters.append(
            ("json_extract(data, '$.status') NOT IN (?, ?)", ["canceled", "incomplete_expired"])
        )
    if params.get("price"):
        filters.append(("data LIKE ?", f'%"price":{{"id":"{params["price"]}"%'))
    if params.get("collection_method"):
        filters.append(
            ("json_extract(data, '$.collection_method') = ?", params["collection_method"])
        )
    if params.get("test_clock"):
        filters.append(("clock", params["test_clock"]))
    return filters
