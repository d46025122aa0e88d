"""Against both sandboxes: a refunded, disputed charge whose events (all of one second) arrive
in the worst order ends right in Salesforce; events about objects Stripe does not know (404)
write nothing and end done with the reason in the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from stripe2sf.store.audit_trail import AuditTrail
from tests.support.events import encode, event, signed
from tests.support.sync_env import SyncEnv, sync_env

CHARGE_TYPES = (
    "charge.succeeded",
    "payment_intent.succeeded",
    "charge.refunded",
    "charge.dispute.created",
)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SyncEnv]:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}") as e:
        yield e


def post(env: SyncEnv, doc: dict[str, Any]) -> None:
    """Deliver one event as Stripe would (signed), and wait until it is applied."""
    body = json.dumps(doc)
    secret = env.runtime.settings.stripe_webhook_secrets[0]
    response = httpx.post(env.url + "/webhooks/stripe", content=body, headers=signed(body, secret))
    assert response.status_code == 200, response.text
    env.drain()


def manual_delivery(client: stripe.StripeClient) -> None:
    """The test delivers every event itself, in the order it chooses."""
    for endpoint in client.v1.webhook_endpoints.list().data:
        client.v1.webhook_endpoints.update(endpoint.id, {"disabled": True})


def test_refunded_disputed_charge_delivered_in_the_worst_order_ends_right(env: SyncEnv) -> None:
    client = env.client
    manual_delivery(client)
    customer = client.v1.customers.create({"email": "wanda@worst.example", "name": "Wanda Worst"})
    method = client.v1.payment_methods.attach("pm_card_createDispute", {"customer": customer.id})
    intent = client.v1.payment_intents.create(
        {
            "amount": 2_500,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": method.id,
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    charge_id = str(intent.latest_charge)
    client.v1.refunds.create({"charge": charge_id, "amount": 1_000})
    [dispute] = client.v1.disputes.list({"charge": charge_id}).data
    client.v1.disputes.close(dispute.id)  # lost; charge.dispute.closed is not synced

    listed = [e.to_dict() for e in client.v1.events.list({"limit": 100}).data]  # newest first
    mine = [e for e in listed if e["type"] in CHARGE_TYPES]
    assert sorted(e["type"] for e in mine) == sorted(CHARGE_TYPES)
    # They usually share their second; make sure they do (we sign what we deliver), so that
    # neither `created` nor the lane's order can tell which one is newest.
    second = min(e["created"] for e in mine)
    mine = [{**e, "created": second} for e in mine]
    for e in reversed(listed):  # the customer first, as it came
        if e["type"].startswith("customer."):
            post(env, e)
    for e in mine:  # then the charge's events, newest first: the worst order
        post(env, e)
    # hours later Stripe delivers the first two again (replayed: same ids, same `created`)
    first_two = [e["id"] for e in mine if e["type"] in CHARGE_TYPES[:2]]
    env.runtime.inbox.replay(first_two, datetime.now(UTC))
    env.drain()

    [payment] = env.query(
        "SELECT Amount__c, Amount_Refunded__c, Status__c FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{charge_id}'"
    )
    assert payment["Status__c"] == "Partially Refunded"
    assert (payment["Amount__c"], payment["Amount_Refunded__c"]) == (25, 10)
    [case] = env.query("SELECT Description FROM Case")
    assert "status: lost" in case["Description"]  # the dispute as Stripe has it now
    counts = env.runtime.inbox.counts()
    assert counts["dead"] == 0 and counts["pending"] == 0
    # The dispute's payload names no customer: it was queued in a lane of its own, then moved
    # into the customer's lane (where the refund is) before anything was written.
    [dispute_event] = [e["id"] for e in mine if e["type"] == "charge.dispute.created"]
    row = env.runtime.inbox.row(dispute_event)
    assert row is not None and row["lane"] == customer.id and row["state"] == "done"
    outcomes = [a["outcome"] for a in env.runtime.inbox.attempts_of(dispute_event)]
    assert outcomes == ["moved", "done"]


def test_events_about_objects_stripe_does_not_know_write_nothing(env: SyncEnv) -> None:
    manual_delivery(env.client)
    forged = [
        event(
            "evt_forged_invoice",
            type="invoice.payment_failed",
            customer="cus_doesnotexist",
            obj={
                "id": "in_doesnotexist",
                "object": "invoice",
                "status": "open",
                "amount_due": 4_900,
                "currency": "usd",
                "attempt_count": 1,
            },
        ),
        event(
            "evt_forged_sub",
            type="customer.subscription.updated",
            customer="cus_doesnotexist",
            obj={"id": "sub_doesnotexist", "object": "subscription", "status": "active"},
        ),
        event(
            "evt_forged_charge",
            type="charge.succeeded",
            customer="cus_doesnotexist",
            obj={
                "id": "ch_doesnotexist",
                "object": "charge",
                "status": "succeeded",
                "amount": 100,
                "currency": "usd",
                "paid": True,
            },
        ),
    ]
    for doc in forged:
        post(env, json.loads(encode(doc)))

    assert env.query("SELECT Id FROM Account") == []
    assert env.query("SELECT Id FROM Contact") == []
    assert env.query("SELECT Id FROM Task") == []
    assert env.query("SELECT Id FROM Stripe_Payment__c") == []
    trail = AuditTrail(env.runtime.engine)
    for doc in forged:
        stored = env.runtime.inbox.get(doc["id"])
        assert stored is not None and stored.state == "done", doc["id"]
        assert stored.attempts == 1  # not retried
        [row] = trail.rows(event_id=doc["id"])
        assert row["outcome"] == "skipped"
        assert "(404)" in row["error"] and "nothing written" in row["error"]


def test_deleted_customer_is_marked_not_taken_for_a_404(env: SyncEnv) -> None:
    client = env.client
    customer = client.v1.customers.create({"email": "gone@leaving.example", "name": "Gus Gone"})
    env.drain()
    client.v1.customers.delete(customer.id)
    env.drain()
    # an older customer.updated, delivered after the deletion, reads Stripe's deleted stub
    updated = event(
        "evt_late_update",
        type="customer.updated",
        customer=None,
        obj={"id": customer.id, "object": "customer", "email": "gone@leaving.example"},
    )
    post(env, json.loads(encode(updated)))
    [account] = env.query("SELECT Stripe_Customer_Id__c, Stripe_Customer_Deleted__c FROM Account")
    assert account["Stripe_Customer_Id__c"] == customer.id
    assert account["Stripe_Customer_Deleted__c"] is True
    rows = AuditTrail(env.runtime.engine).rows(event_id="evt_late_update")
    assert not any("404" in (r["error"] or "") for r in rows)
