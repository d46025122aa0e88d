"""Payment methods, payment intents, charges, refunds and disputes."""

from __future__ import annotations

import datetime as dt

from stripe_sandbox import cards, ids, shapes
from stripe_sandbox.errors import CardError, InvalidRequestError, param_invalid, param_required
from stripe_sandbox.models.common import (
    Obj,
    amount,
    apply_metadata,
    apply_simple,
    check_minimum_charge,
    currency,
    snapshot,
)
from stripe_sandbox.params import Params, get_bool, get_dict, get_str
from stripe_sandbox.state import Tx
from stripe_sandbox.store import Record

# ---- payment methods -----------------------------------------------------------------------


def _card_record(tx: Tx, number: str, exp_month: int, exp_year: int, behaviour: str) -> Record:
    data = shapes.payment_method(
        ids.id_for("payment_method"),
        tx.now(),
        shapes.card_details(
            cards.brand_of(number), number[-4:], exp_month, exp_year, ids.fingerprint(number)
        ),
    )
    return tx.new_record("payment_method", data, meta={"behaviour": behaviour})


def _default_expiry(tx: Tx) -> tuple[int, int]:
    today = dt.datetime.fromtimestamp(tx.now(), dt.UTC)
    return today.month, today.year + 1


def resolve_payment_method(tx: Tx, value: str, param: str = "payment_method") -> Record:
    """A stored payment method, or a fresh one for a magic id (``pm_card_visa``, ``tok_visa``)."""
    test = cards.magic(value)
    if test is not None:
        month, year = _default_expiry(tx)
        return _card_record(tx, test.number, month, year, test.behaviour.name)
    return tx.get("payment_method", value, param)


def behaviour(pm: Record) -> cards.Behaviour:
    return cards.BEHAVIOURS.get(str(pm.meta.get("behaviour", "ok")), cards.OK)


def create_payment_method(tx: Tx, params: Params) -> Obj:
    pm_type = get_str(params, "type")
    if pm_type is None:
        raise param_required("type")
    if pm_type != "card":
        raise param_invalid("type", f"The payment method type {pm_type} is not supported here.")
    card = get_dict(params, "card")
    token = card.get("token")
    if isinstance(token, str) and cards.magic(token):
        rec = resolve_payment_method(tx, token)
    else:
        number = str(card.get("number") or "").replace(" ", "")
        if not number:
            raise param_required("card[number]")
        cards.check_number(number)
        default_month, default_year = _default_expiry(tx)
        month = int(card.get("exp_month") or default_month)
        year = int(card.get("exp_year") or default_year)
        if year < 100:
            year += 2000
        if not 1 <= month <= 12:
            raise CardError(
                "Your card's expiration month is invalid.",
                code="invalid_expiry_month",
                param="exp_month",
            )
        rec = _card_record(tx, number, month, year, cards.behaviour_for_number(number).name)
    if "billing_details" in params and isinstance(params["billing_details"], dict):
        bd = params["billing_details"]
        rec.data["billing_details"] = {
            "address": shapes.address(bd.get("address")),
            "email": bd.get("email"),
            "name": bd.get("name"),
            "phone": bd.get("phone"),
            "tax_id": bd.get("tax_id"),
        }
    apply_metadata(rec.data, params)
    tx.save(rec)
    return rec.data


def check_attachable(pm: Record) -> None:
    if behaviour(pm).attach_fails:
        raise CardError(
            "Your card was declined.",
            code="card_declined",
            extra={"decline_code": "generic_decline"},
        )


def attach(tx: Tx, pm: Record, customer_id: str) -> Obj:
    check_attachable(pm)
    pm.data["customer"] = customer_id
    pm.customer = customer_id
    tx.save(pm)
    tx.emit("payment_method.attached", pm.data)
    return pm.data


def attach_api(tx: Tx, pm_id: str, params: Params) -> Obj:
    customer_id = get_str(params, "customer")
    if not customer_id:
        raise param_required("customer")
    tx.get("customer", customer_id, "customer")
    pm = resolve_payment_method(tx, pm_id)
    if pm.data.get("customer") == customer_id:
        return pm.data
    if pm.data.get("customer"):
        raise InvalidRequestError(
            "The payment method you provided has already been attached to a customer.",
            param="payment_method",
        )
    return attach(tx, pm, customer_id)


def detach(tx: Tx, pm_id: str) -> Obj:
    pm = tx.get("payment_method", pm_id)
    customer_id = pm.data.get("customer")
    if not customer_id:
        raise InvalidRequestError(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            param="payment_method",
        )
    before = snapshot(pm.data)
    pm.data["customer"] = None
    pm.customer = None
    tx.save(pm)
    cust = tx.find("customer", str(customer_id))
    if cust is not None and cust.data["invoice_settings"]["default_payment_method"] == pm_id:
        cbefore = snapshot(cust.data)
        cust.data["invoice_settings"]["default_payment_method"] = None
        tx.save(cust)
        tx.emit_update("customer.updated", cbefore, cust.data)
    tx.emit("payment_method.detached", pm.data, {"customer": before["customer"]})
    return pm.data


def update_payment_method(tx: Tx, pm_id: str, params: Params) -> Obj:
    pm = tx.get("payment_method", pm_id)
    before = snapshot(pm.data)
    card = get_dict(params, "card")
    if "exp_month" in card:
        pm.data["card"]["exp_month"] = int(card["exp_month"])
    if "exp_year" in card:
        year = int(card["exp_year"])
        pm.data["card"]["exp_year"] = year + 2000 if year < 100 else year
    if isinstance(params.get("billing_details"), dict):
        bd = params["billing_details"]
        target = pm.data["billing_details"]
        for key in ("email", "name", "phone"):
            if key in bd:
                target[key] = bd[key] or None
        if "address" in bd:
            target["address"] = shapes.address(bd["address"])
    apply_metadata(pm.data, params)
    apply_simple(pm.data, params, ("allow_redisplay",))
    tx.save(pm)
    tx.emit_update("payment_method.updated", before, pm.data)
    return pm.data


# ---- payment intents and charges ------------------------------------------------------------


def create_payment_intent(tx: Tx, params: Params) -> Obj:
    value = amount(params, "amount", minimum=1)
    cur = currency(params)
    assert value is not None and cur is not None
    check_minimum_charge(value, cur)
    customer_id = get_str(params, "customer") or None
    clock = None
    if customer_id:
        clock = tx.get("customer", customer_id, "customer").clock
    pi = shapes.payment_intent(
        ids.id_for("payment_intent"), tx.now(clock), value, cur, ids.random_token(25)
    )
    pi["customer"] = customer_id
    apply_simple(
        pi,
        params,
        (
            "description",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "setup_future_usage",
            "transfer_group",
        ),
    )
    if params.get("capture_method") in ("manual", "automatic", "automatic_async"):
        pi["capture_method"] = params["capture_method"]
    if "shipping" in params:
        pi["shipping"] = shapes.shipping(params["shipping"])
    if isinstance(params.get("payment_method_types"), list):
        pi["payment_method_types"] = [str(t) for t in params["payment_method_types"]]
    apply_metadata(pi, params)
    rec = tx.new_record("payment_intent", pi, customer=customer_id, clock=clock)
    pm_value = get_str(params, "payment_method")
    if pm_value:
        pm = resolve_payment_method(tx, pm_value)
        pi["payment_method"] = pm.id
        pi["status"] = "requires_confirmation"
    tx.save(rec)
    tx.emit("payment_intent.created", pi)
    if get_bool(params, "confirm", False):
        confirm(tx, rec, {}, raise_on_failure=True)
    return rec.data


def update_payment_intent(tx: Tx, pi_id: str, params: Params) -> Obj:
    rec = tx.get("payment_intent", pi_id)  # (Stripe has no payment_intent.updated event)
    apply_simple(rec.data, params, ("description", "receipt_email", "statement_descriptor"))
    apply_metadata(rec.data, params)
    if rec.data["status"] in ("requires_payment_method", "requires_confirmation"):
        if "amount" in params:
            rec.data["amount"] = amount(params, "amount", minimum=1)
        if "customer" in params:
            rec.data["customer"] = params["customer"] or None
            rec.customer = rec.data["customer"]
        if params.get("payment_method"):
            pm = resolve_payment_method(tx, str(params["payment_method"]))
            rec.data["payment_method"] = pm.id
            rec.data["status"] = "requires_confirmation"
    tx.save(rec)
    return rec.data


def confirm_api(tx: Tx, pi_id: str, params: Params) -> Obj:
    rec = tx.get("payment_intent", pi_id)
    return confirm(tx, rec, params, raise_on_failure=True)


def confirm(tx: Tx, rec: Record, params: Params, *, raise_on_failure: bool) -> Obj:
    pi = rec.data
    if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise InvalidRequestError(
            f"This PaymentIntent's status is {pi['status']}, so it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    pm_value = get_str(params, "payment_method")
    if pm_value:
        pi["payment_method"] = resolve_payment_method(tx, pm_value).id
    if not pi.get("payment_method"):
        raise InvalidRequestError(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
            param="payment_method",
        )
    pm = tx.get("payment_method", pi["payment_method"], "payment_method")
    ch = charge_payment(tx, rec, pm)
    if ch["status"] == "failed" and raise_on_failure:
        err = pi["last_payment_error"]
        raise CardError(
            err["message"],
            code=err["code"],
            extra={
                "decline_code": err["decline_code"],
                "charge": ch["id"],
                "payment_intent": pi,
                "payment_method": pm.data,
                "doc_url": err["doc_url"],
            },
        )
    return pi


def charge_payment(tx: Tx, pi_rec: Record, pm: Record, *, extra_events: bool = True) -> Obj:
    """Charge ``pm`` for the payment intent; emits charge.* and payment_intent.* events."""
    pi = pi_rec.data
    now = tx.now(pi_rec.clock)
    how = behaviour(pm)
    ch = shapes.charge(ids.id_for("charge"), now, pi["amount"], pi["currency"])
    ch.update(
        customer=pi["customer"],
        description=pi["description"],
        payment_intent=pi["id"],
        payment_method=pm.id,
        receipt_email=pi["receipt_email"],
        metadata=dict(pi["metadata"]),
        shipping=pi["shipping"],
        billing_details=snapshot(pm.data["billing_details"]),
        payment_method_details=shapes.charge_card_details(
            pm.data["card"], pi["amount"], ids.random_token(15)
        ),
    )
    pi["latest_charge"] = ch["id"]
    pi["payment_method"] = pm.id
    if how.charge_fails:
        message = cards.DECLINE_MESSAGES.get(how.decline_code, "Your card was declined.")
        ch.update(
            status="failed",
            failure_code="card_declined",
            failure_message=message,
            outcome=shapes.outcome(
                type="issuer_declined",
                network_status="declined_by_network",
                reason=how.decline_code,
                seller_message="The bank did not return any further details with this decline.",
            ),
        )
        pi.update(
            status="requires_payment_method",
            payment_method=None,
            last_payment_error=shapes.payment_error(
                code="card_declined",
                decline_code=how.decline_code,
                message=message,
                charge=ch["id"],
                pm=snapshot(pm.data),
            ),
        )
        tx.new_record("charge", ch, customer=pi["customer"], parent=pi["id"], clock=pi_rec.clock)
        tx.save(pi_rec)
        tx.emit("charge.failed", ch)
        tx.emit("payment_intent.payment_failed", pi)
        return ch
    captured = pi["capture_method"] != "manual"
    ch.update(
        status="succeeded",
        paid=True,
        captured=captured,
        amount_captured=pi["amount"] if captured else 0,
        balance_transaction=ids.id_for("balance_transaction") if captured else None,
        outcome=shapes.outcome(
            type="authorized",
            network_status="approved_by_network",
            reason=None,
            seller_message="Payment complete.",
        ),
        receipt_url=f"https://pay.stripe.com/receipts/payment/{ids.random_token(60)}",
    )
    pi["last_payment_error"] = None
    if captured:
        pi.update(status="succeeded", amount_received=pi["amount"])
    else:
        pi.update(status="requires_capture", amount_capturable=pi["amount"])
    tx.new_record(
        "charge",
        ch,
        customer=pi["customer"],
        parent=pi["id"],
        clock=pi_rec.clock,
        meta={"behaviour": how.name},
    )
    tx.save(pi_rec)
    tx.emit("charge.succeeded", ch)
    if captured:
        tx.emit("payment_intent.succeeded", pi)
    else:
        tx.emit("payment_intent.amount_capturable_updated", pi)
    if how.dispute and captured:
        create_dispute(tx, tx.get("charge", ch["id"]))
    return ch


def capture(tx: Tx, pi_id: str, params: Params) -> Obj:
    rec = tx.get("payment_intent", pi_id)
    pi = rec.data
    if pi["status"] != "requires_capture":
        raise InvalidRequestError(
            f"This PaymentIntent could not be captured because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            "captured: requires_capture.",
            code="payment_intent_unexpected_state",
        )
    value = amount(params, "amount_to_capture", required=False) or pi["amount_capturable"]
    ch_rec = tx.get("charge", pi["latest_charge"])
    before = snapshot(ch_rec.data)
    ch_rec.data.update(
        captured=True, amount_captured=value, balance_transaction=ids.id_for("balance_transaction")
    )
    if value < ch_rec.data["amount"]:
        ch_rec.data["amount_refunded"] = ch_rec.data["amount"] - value
    tx.save(ch_rec)
    pi.update(status="succeeded", amount_received=value, amount_capturable=0)
    tx.save(rec)
    tx.emit("charge.captured", ch_rec.data, {k: before[k] for k in ("captured", "amount_captured")})
    tx.emit("payment_intent.succeeded", pi)
    return pi


def cancel_payment_intent(tx: Tx, pi_id: str, params: Params) -> Obj:
    rec = tx.get("payment_intent", pi_id)
    pi = rec.data
    if pi["status"] in ("succeeded", "canceled"):
        raise InvalidRequestError(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
        )
    pi.update(
        status="canceled",
        canceled_at=tx.now(rec.clock),
        cancellation_reason=params.get("cancellation_reason") or None,
    )
    tx.save(rec)
    tx.emit("payment_intent.canceled", pi)
    return pi


def update_charge(tx: Tx, charge_id: str, params: Params) -> Obj:
    rec = tx.get("charge", charge_id)
    before = snapshot(rec.data)
    apply_simple(rec.data, params, ("description", "receipt_email", "transfer_group"))
    apply_metadata(rec.data, params)
    if "shipping" in params:
        rec.data["shipping"] = shapes.shipping(params["shipping"])
    if isinstance(params.get("fraud_details"), dict):
        rec.data["fraud_details"] = dict(params["fraud_details"])
    tx.save(rec)
    tx.emit_update("charge.updated", before, rec.data)
    return rec.data


# ---- refunds -------------------------------------------------------------------------------


def create_refund(tx: Tx, params: Params) -> Obj:
    charge_id = get_str(params, "charge")
    pi_id = get_str(params, "payment_intent")
    if not charge_id and not pi_id:
        raise InvalidRequestError(
            "One of `charge` or `payment_intent` is required.",
            code="parameter_missing",
            param="charge",
        )
    if pi_id and not charge_id:
        pi = tx.get("payment_intent", pi_id, "payment_intent").data
        charge_id = pi.get("latest_charge")
        if not charge_id or pi["status"] != "succeeded":
            raise InvalidRequestError(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
    ch_rec = tx.get("charge", charge_id, "charge")
    ch = ch_rec.data
    refundable = ch["amount_captured"] - ch["amount_refunded"]
    if ch["status"] != "succeeded" or refundable <= 0:
        raise InvalidRequestError(
            f"Charge {ch['id']} has already been refunded.",
            code="charge_already_refunded",
            param="charge",
        )
    value = amount(params, "amount", required=False, minimum=1) or refundable
    if value > refundable:
        raise InvalidRequestError(
            f"Refund amount ({value}) is greater than unrefunded amount on charge ({refundable})",
            code="amount_too_large",
            param="amount",
        )
    re = shapes.refund(ids.id_for("refund"), tx.now(ch_rec.clock), value, ch["currency"])
    re.update(
        charge=ch["id"],
        payment_intent=ch["payment_intent"],
        customer=ch["customer"],
        payment_method=ch["payment_method"],
        balance_transaction=ids.id_for("balance_transaction"),
    )
    reason = get_str(params, "reason")
    if reason:
        if reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise param_invalid("reason", f"Invalid reason: {reason}")
        re["reason"] = reason
    apply_metadata(re, params)
    tx.new_record("refund", re, customer=ch["customer"], parent=ch["id"], clock=ch_rec.clock)
    before = snapshot(ch)
    ch["amount_refunded"] += value
    ch["refunded"] = ch["amount_refunded"] >= ch["amount_captured"]
    refunds = [r.data for r in tx.store.find("refund", [("parent", ch["id"])], order="DESC")]
    ch["refunds"] = {
        "object": "list",
        "data": refunds[:10],
        "has_more": len(refunds) > 10,
        "total_count": len(refunds),
        "url": f"/v1/charges/{ch['id']}/refunds",
    }
    tx.save(ch_rec)
    tx.emit(
        "charge.refunded",
        ch,
        {k: before[k] for k in ("amount_refunded", "refunded", "refunds") if before[k] != ch[k]},
    )
    tx.emit("refund.created", re)
    return re


def update_refund(tx: Tx, refund_id: str, params: Params) -> Obj:
    rec = tx.get("refund", refund_id)
    before = snapshot(rec.data)
    apply_metadata(rec.data, params)
    tx.save(rec)
    if tx.emit_update("refund.updated", before, rec.data):
        tx.emit("charge.refund.updated", rec.data, {"metadata": before["metadata"]})
    return rec.data


# ---- disputes ------------------------------------------------------------------------------


def create_dispute(tx: Tx, ch_rec: Record) -> Obj:
    ch = ch_rec.data
    du = shapes.dispute(
        ids.id_for("dispute"), tx.now(ch_rec.clock), ch["amount"], ch["currency"], ch["id"]
    )
    du["payment_intent"] = ch["payment_intent"]
    du["payment_method_details"] = {
        "card": {
            "brand": ch["payment_method_details"]["card"]["brand"],
            "case_type": "chargeback",
            "network_reason_code": "10.4",
        },
        "type": "card",
    }
    du["balance_transactions"] = []
    tx.new_record("dispute", du, customer=ch["customer"], parent=ch["id"], clock=ch_rec.clock)
    before = snapshot(ch)
    ch["disputed"] = True
    tx.save(ch_rec)
    tx.emit("charge.dispute.created", du)
    tx.emit_update("charge.updated", before, ch)
    return du


def update_dispute(tx: Tx, dispute_id: str, params: Params) -> Obj:
    rec = tx.get("dispute", dispute_id)
    before = snapshot(rec.data)
    evidence = get_dict(params, "evidence")
    for key, value in evidence.items():
        if key in rec.data["evidence"] and key != "enhanced_evidence":
            rec.data["evidence"][key] = value or None
    if evidence:
        rec.data["evidence_details"]["has_evidence"] = True
    apply_metadata(rec.data, params)
    if get_bool(params, "submit", False) and rec.data["status"] == "needs_response":
        rec.data["status"] = "under_review"
        rec.data["evidence_details"]["submission_count"] += 1
    tx.save(rec)
    tx.emit_update("charge.dispute.updated", before, rec.data)
    return rec.data


def close_dispute(tx: Tx, dispute_id: str) -> Obj:
    rec = tx.get("dispute", dispute_id)
    if rec.data["status"] in ("lost", "won"):
        return rec.data
    rec.data["status"] = "lost"
    tx.save(rec)
    tx.emit("charge.dispute.closed", rec.data)
    return rec.data
