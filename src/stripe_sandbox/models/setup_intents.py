"""Setup intents: save a card for later (attaching it to the customer) without charging."""

from __future__ import annotations

from stripe_sandbox import ids, shapes
from stripe_sandbox.errors import CardError, InvalidRequestError
from stripe_sandbox.models import payments
from stripe_sandbox.models.common import Obj, apply_metadata, apply_simple
from stripe_sandbox.params import Params, get_bool, get_str
from stripe_sandbox.state import Tx
from stripe_sandbox.store import Record


def create(tx: Tx, params: Params) -> Obj:
    customer_id = get_str(params, "customer") or None
    clock = tx.get("customer", customer_id, "customer").clock if customer_id else None
    data = shapes.setup_intent(ids.id_for("setup_intent"), tx.now(clock), ids.random_token(25))
    data["customer"] = customer_id
    apply_simple(data, params, ("description",))
    if params.get("usage") in ("on_session", "off_session"):
        data["usage"] = params["usage"]
    apply_metadata(data, params)
    rec = tx.new_record("setup_intent", data, customer=customer_id, clock=clock)
    pm_value = get_str(params, "payment_method")
    if pm_value:
        data["payment_method"] = payments.resolve_payment_method(tx, pm_value).id
        data["status"] = "requires_confirmation"
    tx.save(rec)
    tx.emit("setup_intent.created", data)
    if get_bool(params, "confirm", False):
        _confirm(tx, rec)
    return data


def confirm(tx: Tx, seti_id: str, params: Params) -> Obj:
    rec = tx.get("setup_intent", seti_id)
    pm_value = get_str(params, "payment_method")
    if pm_value:
        rec.data["payment_method"] = payments.resolve_payment_method(tx, pm_value).id
    return _confirm(tx, rec)


def _confirm(tx: Tx, rec: Record) -> Obj:
    data = rec.data
    if data["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise InvalidRequestError(
            f"This SetupIntent's status is {data['status']}, so it cannot be confirmed.",
            code="setup_intent_unexpected_state",
        )
    if not data["payment_method"]:
        raise InvalidRequestError(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            code="setup_intent_unexpected_state",
            param="payment_method",
        )
    pm = tx.get("payment_method", data["payment_method"], "payment_method")
    if payments.behaviour(pm).attach_fails:
        data.update(
            status="requires_payment_method",
            payment_method=None,
            last_setup_error=(
                shapes.payment_error(
                    code="card_declined",
                    decline_code="generic_decline",
                    message="Your card was declined.",
                    charge=None,
                    pm=pm.data,
                )
            ),
        )
        tx.save(rec)
        tx.emit("setup_intent.setup_failed", data)
        raise CardError(
            "Your card was declined.",
            code="card_declined",
            extra={"decline_code": "generic_decline", "setup_intent": data},
        )
    if data["customer"] and pm.data.get("customer") is None:
        payments.attach(tx, pm, str(data["customer"]))
    data.update(status="succeeded", last_setup_error=None)
    tx.save(rec)
    tx.emit("setup_intent.succeeded", data)
    return data


def cancel(tx: Tx, seti_id: str, params: Params) -> Obj:
    rec = tx.get("setup_intent", seti_id)
    if rec.data["status"] in ("succeeded", "canceled"):
        raise InvalidRequestError(
            f"You cannot cancel this SetupIntent because it has a status of {rec.data['status']}.",
            code="setup_intent_unexpected_state",
        )
    rec.data.update(status="canceled", cancellation_reason=params.get("cancellation_reason"))
    tx.save(rec)
    tx.emit("setup_intent.canceled", rec.data)
    return rec.data
