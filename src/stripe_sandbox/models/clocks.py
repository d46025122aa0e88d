"""Test clocks. Advancing is asynchronous, as in Stripe: the API call marks the clock
``advancing``; the scheduler (``scheduler.run_advance``) then runs everything that falls due,
in time order, and marks it ``ready``."""

from __future__ import annotations

from stripe_sandbox import ids, shapes
from stripe_sandbox.errors import InvalidRequestError
from stripe_sandbox.models.common import Obj, require
from stripe_sandbox.params import Params, get_str, to_int
from stripe_sandbox.state import Tx

MAX_ADVANCE_STEPS = 100_000


def create(tx: Tx, params: Params) -> Obj:
    frozen = to_int(require(params, "frozen_time"), "frozen_time")
    data = shapes.test_clock(
        ids.id_for("test_helpers.test_clock"), tx.now(), frozen, get_str(params, "name")
    )
    tx.new_record("test_helpers.test_clock", data)
    tx.emit("test_helpers.test_clock.created", data)
    return data


def advance(tx: Tx, clock_id: str, params: Params) -> Obj:
    rec = tx.get("test_helpers.test_clock", clock_id)
    target = to_int(require(params, "frozen_time"), "frozen_time")
    data = rec.data
    if data["status"] != "ready":
        raise InvalidRequestError(
            "The test clock is currently advancing; wait until it is ready.",
            code="test_clock_not_ready" if data["status"] == "advancing" else None,
        )
    if target <= data["frozen_time"]:
        raise InvalidRequestError(
            "The test clock's frozen_time can only move forward.",
            param="frozen_time",
        )
    data.update(status="advancing", status_details={"advancing": {"target_frozen_time": target}})
    rec.meta["target"] = target
    rec.due_at = 0  # picked up by the scheduler at once
    tx.save(rec)
    tx.emit("test_helpers.test_clock.advancing", data)
    return data


def delete(tx: Tx, clock_id: str) -> Obj:
    rec = tx.get("test_helpers.test_clock", clock_id)
    for obj_type in (
        "customer",
        "subscription",
        "invoice",
        "payment_intent",
        "charge",
        "invoiceitem",
        "refund",
        "dispute",
        "invoice_payment",
    ):
        for child in tx.store.find(obj_type, [("clock", clock_id)]):
            tx.store.delete(child.id)
    tx.store.delete(clock_id)
    tx.emit("test_helpers.test_clock.deleted", rec.data)
    return shapes.deleted(clock_id, "test_helpers.test_clock")
