"""A subscription's status changes that open no invoice: when its next step falls due,
cancellation, and what its invoices being paid or failing do to it.

Invoices (paid / failed) and customers (deletion cancels) call these; ``subscriptions``, which
opens invoices, builds on them. Keeping them here keeps the dependencies one-way:
subscriptions -> invoices -> subscription_status.
"""

from __future__ import annotations

from stripe_sandbox import schedule
from stripe_sandbox.models.common import Obj, snapshot
from stripe_sandbox.state import Tx
from stripe_sandbox.store import Record

LIVE = ("active", "trialing", "past_due", "unpaid")
INCOMPLETE_EXPIRES_AFTER = 23 * 3600
UPDATE_EVENT = "customer.subscription.updated"


def period(data: Obj) -> tuple[int, int]:
    item = data["items"]["data"][0]
    return int(item["current_period_start"]), int(item["current_period_end"])


def pending_actions(tx: Tx, rec: Record) -> list[tuple[int, str]]:
    data = rec.data
    status = data["status"]
    actions: list[tuple[int, str]] = []
    if status == "incomplete":
        actions.append((data["created"] + INCOMPLETE_EXPIRES_AFTER, "expire"))
    if status == "trialing" and not rec.meta.get("trial_will_end_sent"):
        actions.append(
            (
                schedule.trial_will_end_at(
                    int(data["trial_end"]), int(data["created"]), tx.sb.settings.trial_will_end_days
                ),
                "trial_will_end",
            )
        )
    resumes_at = (data.get("pause_collection") or {}).get("resumes_at")
    if resumes_at:
        actions.append((int(resumes_at), "resume_collection"))
    if status in LIVE:
        _, end = period(data)
        if data["cancel_at"] is not None and int(data["cancel_at"]) <= end:
            actions.append((int(data["cancel_at"]), "cancel"))
        else:
            actions.append((end, "renew"))
    return sorted(actions)


def reschedule(tx: Tx, rec: Record) -> None:
    actions = pending_actions(tx, rec)
    rec.due_at = actions[0][0] if actions else None
    tx.save(rec)


# ---- cancellation --------------------------------------------------------------------------


def cancel_now(
    tx: Tx, rec: Record, *, reason: str, automatic: bool, details: Obj | None = None
) -> Obj:
    data = rec.data
    now = tx.now(rec.clock)
    data.update(status="canceled", ended_at=now, canceled_at=data["canceled_at"] or now)
    data["cancellation_details"]["reason"] = reason
    if details:
        for key in ("comment", "feedback"):
            if key in details:
                data["cancellation_details"][key] = details[key] or None
    rec.due_at = None
    tx.save(rec)
    for inv in tx.store.find("invoice", [("parent", rec.id)]):
        if inv.data["status"] == "open" and inv.data["next_payment_attempt"]:
            inv.data["next_payment_attempt"] = None
            inv.due_at = None
            tx.save(inv)
        elif inv.data["status"] == "draft":
            inv.due_at = None
            tx.save(inv)
    tx.emit("customer.subscription.deleted", data, automatic=automatic)
    return data


# ---- hooks from invoices -------------------------------------------------------------------


def _sub_of(tx: Tx, inv: Record) -> Record | None:
    details = (inv.data.get("parent") or {}).get("subscription_details") or {}
    sub_id = details.get("subscription")
    return tx.find("subscription", sub_id) if sub_id else None


def on_invoice_paid(tx: Tx, inv: Record, *, automatic: bool) -> None:
    rec = _sub_of(tx, inv)
    if rec is None:
        return
    if rec.meta.get("creating"):
        if rec.data["status"] == "incomplete":
            rec.data["status"] = "active"
            tx.save(rec)
        return
    if rec.data["status"] in ("incomplete", "past_due", "unpaid"):
        before = snapshot(rec.data)
        rec.data["status"] = "active"
        reschedule(tx, rec)
        tx.emit_update(UPDATE_EVENT, before, rec.data, automatic=automatic)


def on_invoice_failed(tx: Tx, inv: Record, *, final: bool, automatic: bool) -> None:
    rec = _sub_of(tx, inv)
    if rec is None or rec.meta.get("creating"):
        return
    if inv.data["billing_reason"] == "subscription_create":
        return
    before = snapshot(rec.data)
    if rec.data["status"] in ("active", "trialing"):
        rec.data["status"] = "past_due"
    if final and automatic:
        outcome = tx.sb.settings.dunning_final_status
        if outcome == "canceled":
            if rec.data != before:
                tx.save(rec)
                tx.emit_update(UPDATE_EVENT, before, rec.data, automatic=automatic)
            cancel_now(tx, rec, reason="payment_failed", automatic=automatic)
            return
        if outcome == "unpaid":
            rec.data["status"] = "unpaid"
    tx.save(rec)
    tx.emit_update(UPDATE_EVENT, before, rec.data, automatic=automatic)
