"""Dunning as it happens under a test clock (issue #16): the clock runs through every retry of
a renewal before stripe2sf applies the events (a worker behind, or the demo's clock advanced
by a month at once), so each invoice.payment_failed is planned while the invoice, refetched,
already says attempt 4. Each attempt still gets its own Task, and the payment closes them all;
when stripe2sf applies the failures only after the payment, the Tasks are written closed.

Stripe sandbox (official SDK) -> webhooks -> stripe2sf's app and worker -> Salesforce sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.sync_env import SyncEnv, sync_env

DAY = 86_400
START = 1_790_000_000


def apply_everything(env: SyncEnv, timeout: float = 60) -> None:
    """Run the worker until Stripe has delivered everything and nothing is pending."""
    worker = env.runtime.worker(concurrency=1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        env.stripe.wait_idle(timeout=20)
        if env.runtime.inbox.counts()["pending"] == 0:
            assert env.runtime.inbox.counts()["dead"] == 0
            return
        if not worker.run_once():
            time.sleep(0.05)
    raise AssertionError(f"not applied: {env.runtime.inbox.counts()}")


@pytest.mark.parametrize("applied", ["before the payment", "after the payment"])
def test_each_failed_attempt_gets_its_task_and_the_payment_closes_them(
    tmp_path: Path, applied: str
) -> None:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}", run_worker=False) as env:
        client = env.client
        clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
        customer = client.v1.customers.create(
            {"email": "ap@retries.example", "name": "Retries Ltd", "test_clock": clock.id}
        )
        good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        product = client.v1.products.create({"name": "Team"})
        price = client.v1.prices.create(
            {
                "product": product.id,
                "currency": "usd",
                "unit_amount": 4_900,
                "recurring": {"interval": "month"},
            }
        )
        sub = client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"price": price.id}],
                "default_payment_method": good.id,
            }
        )
        bad = client.v1.payment_methods.attach(
            "pm_card_chargeCustomerFail", {"customer": customer.id}
        )
        client.v1.subscriptions.update(sub.id, {"default_payment_method": bad.id})
        # the renewal and its three retries (3, 5 and 7 days apart), all before stripe2sf looks
        client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + 48 * DAY})
        env.stripe.wait_for_clock(clock.id)
        [renewal] = [
            inv
            for inv in client.v1.invoices.list({"customer": customer.id}).data
            if inv.attempt_count == 4
        ]
        assert renewal.status == "open" and renewal.next_payment_attempt is None
        if applied == "after the payment":
            client.v1.invoices.pay(renewal.id, {"payment_method": good.id})
        apply_everything(env)

        tasks = env.query(
            "SELECT Id, Stripe_Dedupe_Key__c, Subject, Status, IsClosed FROM Task "
            f"WHERE Stripe_Dedupe_Key__c LIKE '{renewal.id}:%'"
        )
        assert sorted(t["Stripe_Dedupe_Key__c"] for t in tasks) == [
            f"{renewal.id}:{attempt}" for attempt in (1, 2, 3, 4)
        ]
        by_key = {t["Stripe_Dedupe_Key__c"]: t for t in tasks}
        assert "final attempt" in by_key[f"{renewal.id}:4"]["Subject"]
        assert "final attempt" not in by_key[f"{renewal.id}:1"]["Subject"]
        if applied == "before the payment":
            assert not any(t["IsClosed"] for t in tasks)
            [account] = env.query("SELECT Billing_Status__c FROM Account")
            assert account["Billing_Status__c"] == "At Risk"
            client.v1.invoices.pay(renewal.id, {"payment_method": good.id})
            apply_everything(env)
        closed = env.query(
            "SELECT Stripe_Dedupe_Key__c, Status, Stripe_Resolved_At__c FROM Task "
            f"WHERE Stripe_Dedupe_Key__c LIKE '{renewal.id}:%'"
        )
        assert len(closed) == 4
        assert all(t["Status"] == "Completed" and t["Stripe_Resolved_At__c"] for t in closed)
        [account] = env.query("SELECT Billing_Status__c FROM Account")
        assert account["Billing_Status__c"] == "Current"
