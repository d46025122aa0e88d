"""The Salesforce API budget against the Salesforce sandbox with a low daily limit: failed
payments still go through while lower-priority work waits (deferred, no attempt counted), and
everything resumes on its own once the org has room again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from stripe2sf.store.inbox import DEFERRED_KIND
from stripe2sf.store.tables import events
from tests.support.sync_env import SyncEnv, sync_env


@pytest.fixture
def env(sqlite_url: str) -> Iterator[SyncEnv]:
    with sync_env(
        sqlite_url, budget_defer_seconds=0.5, budget_pause_seconds=1.0, budget_reserve_share=0.2
    ) as running:
        yield running


def rows_of(env: SyncEnv, event_type: str) -> list[dict[str, Any]]:
    with env.runtime.engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(select(events).where(events.c.type == event_type)).all()
        ]


def wait_for(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_failed_payments_go_through_while_lower_priority_work_waits(env: SyncEnv) -> None:
    client = env.client
    alice = client.v1.customers.create({"email": "alice@example.com", "name": "Alice Doe"})
    client.v1.payment_intents.create(
        {
            "amount": 1500,
            "currency": "usd",
            "customer": alice.id,
            "confirm": True,
            "payment_method": "pm_card_visa",
        }
    )
    env.drain()

    # The org is at 90 % of its daily limit; stripe2sf's share (80 %) is used up.
    env.salesforce.set_limits(daily_limit=1000, used=900)
    env.runtime.budget().read_again()
    reading = env.runtime.budget().reading()
    assert reading.used is not None and reading.used >= 900 and reading.limit == 1000

    bob = client.v1.customers.create({"email": "bob@example.com", "name": "Bob Roe"})
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.create(
            {
                "amount": 2500,
                "currency": "usd",
                "customer": alice.id,
                "confirm": True,
                "payment_method": "pm_card_chargeDeclined",
            }
        )

    wait_for(
        lambda: any(r["state"] == "done" for r in rows_of(env, "charge.failed")),
        "the failed charge to sync",
    )
    failed = rows_of(env, "charge.failed")[0]
    charge_id = json.loads(failed["payload"])["data"]["object"]["id"]
    payments = env.query(
        f"SELECT Id FROM Stripe_Payment__c WHERE Stripe_Charge_Id__c = '{charge_id}'"
    )
    assert len(payments) == 1

    def bob_deferred() -> bool:
        return any(
            r["lane"] == bob.id and r["error_kind"] == DEFERRED_KIND
            for r in rows_of(env, "customer.created")
        )

    wait_for(bob_deferred, "Bob's sign-up to be deferred by the budget")
    bob_created = next(r for r in rows_of(env, "customer.created") if r["lane"] == bob.id)
    assert bob_created["state"] == "pending" and bob_created["attempts"] == 0
    assert env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{bob.id}'") == []

    # What /metrics says meanwhile (parsed with prometheus-client's parser).
    text = httpx.get(env.url + "/metrics", timeout=10).text
    samples = {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for family in text_string_to_metric_families(text)
        for x in family.samples
    }
    assert samples[("stripe2sf_salesforce_api_limit", ())] == 1000
    assert samples[("stripe2sf_salesforce_api_usage", ())] >= 900
    assert (
        samples[("stripe2sf_salesforce_calls_total", (("api", "limits"), ("outcome", "ok")))] >= 1
    )
    assert samples[("stripe2sf_stripe_calls_total", ())] > 0
    deferred = (("outcome", "deferred"), ("type", "customer.created"))
    assert samples[("stripe2sf_events_processed_total", deferred)] >= 1
    done = (("outcome", "done"), ("type", "charge.failed"))
    assert samples[("stripe2sf_events_processed_total", done)] >= 1

    # The rolling window has room again: the deferred work resumes on its own.
    env.salesforce.set_limits(daily_limit=1_000_000, used=0)
    counts = env.drain()
    assert counts["dead"] == 0
    bob_created = next(r for r in rows_of(env, "customer.created") if r["lane"] == bob.id)
    assert bob_created["state"] == "done" and bob_created["attempts"] == 1
    assert len(env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{bob.id}'")) == 1


def test_request_limit_exceeded_pauses_and_resumes_without_losing_work(env: SyncEnv) -> None:
    client = env.client
    client.v1.customers.create({"email": "carol@example.com", "name": "Carol Poe"})
    env.drain()

    # The org's allocation is gone (other integrations used it): Salesforce refuses calls.
    env.salesforce.set_limits(daily_limit=1000, used=1000)
    dave = client.v1.customers.create({"email": "dave@example.com", "name": "Dave Loe"})

    def dave_paused() -> bool:
        return any(
            r["lane"] == dave.id and r["error_kind"] == DEFERRED_KIND
            for r in rows_of(env, "customer.created")
        )

    wait_for(dave_paused, "the REQUEST_LIMIT_EXCEEDED pause")
    row = next(r for r in rows_of(env, "customer.created") if r["lane"] == dave.id)
    assert row["state"] == "pending" and row["attempts"] == 0
    assert "REQUEST_LIMIT_EXCEEDED" in row["last_error"]

    env.salesforce.set_limits(daily_limit=1_000_000, used=0)
    counts = env.drain()
    assert counts["dead"] == 0
    row = next(r for r in rows_of(env, "customer.created") if r["lane"] == dave.id)
    assert row["state"] == "done" and row["attempts"] == 1
    assert len(env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{dave.id}'")) == 1
