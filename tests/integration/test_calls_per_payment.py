"""What a payment costs in Salesforce calls, against both sandboxes: a new customer's charge
alone is one query round and one write; a returning customer's next charge is one write
(its Account and Contact are remembered, nothing is read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.test_payment_order_and_unknown_subjects import manual_delivery, post
from tests.integration.test_sync_end_to_end import pay
from tests.support.events import signed
from tests.support.sync_env import SyncEnv, sync_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SyncEnv]:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}") as e:
        yield e


def charge_event(env: SyncEnv, charge_id: str) -> dict[str, object]:
    listed = env.client.v1.events.list({"type": "charge.succeeded", "limit": 100}).data
    [found] = [e.to_dict() for e in listed if e.data.object["id"] == charge_id]
    return found


def test_a_new_customers_charge_costs_two_calls_and_a_returning_ones_one(env: SyncEnv) -> None:
    manual_delivery(env.client)
    warm = env.client.v1.customers.create({"email": "wes@warm.example", "name": "Wes Warm"})
    post(env, charge_event(env, pay(env.client, warm.id)))  # login and its one-time checks
    customer = env.client.v1.customers.create({"email": "nia@new.example", "name": "Nia New"})
    first = pay(env.client, customer.id)

    env.salesforce.reset_requests()
    post(env, charge_event(env, first))  # the customer's events never came: only the charge
    assert env.salesforce.requests()["api_calls"] == 2  # one query round, one write
    [account] = env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{customer.id}'")
    [payment] = env.query(
        "SELECT Account__c, Contact__c FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{first}'"
    )
    assert payment["Account__c"] == account["Id"] and payment["Contact__c"]

    second = pay(env.client, customer.id, amount=1_200)
    env.salesforce.reset_requests()
    post(env, charge_event(env, second))
    assert env.salesforce.requests()["api_calls"] == 1  # linked: the payment write alone
    [payment] = env.query(
        f"SELECT Account__c FROM Stripe_Payment__c WHERE Stripe_Charge_Id__c = '{second}'"
    )
    assert payment["Account__c"] == account["Id"]
    assert env.runtime.inbox.counts()["dead"] == 0


def test_a_new_customers_burst_within_the_linger_costs_one_read_and_one_write(
    tmp_path: Path,
) -> None:
    """Stripe sends customer.created, charge.succeeded and payment_intent.succeeded for a new
    customer's first payment within milliseconds. The lane waits `batch_linger_ms` after its
    first delivery, so the worker takes all three at once: one query round, one write."""
    db = f"sqlite:///{tmp_path / 'stripe2sf.db'}"
    with sync_env(db, run_worker=False, batch_linger_ms=5_000) as env:
        manual_delivery(env.client)
        secret = env.runtime.settings.stripe_webhook_secrets[0]
        worker = env.runtime.worker(concurrency=1)

        def deliver(*docs: dict[str, object]) -> None:
            for doc in docs:
                body = json.dumps(doc)
                headers = signed(body, secret)
                answer = httpx.post(env.url + "/webhooks/stripe", content=body, headers=headers)
                assert answer.status_code == 200, answer.text

        warm = env.client.v1.customers.create({"email": "wes@warm.example", "name": "Wes Warm"})
        deliver(charge_event(env, pay(env.client, warm.id)))  # login and its one-time checks
        assert not worker.run_once()  # the lane lingers: nothing is due yet
        worker.clock = lambda: datetime.now(UTC) + timedelta(seconds=30)
        assert worker.run_once()

        customer = env.client.v1.customers.create({"email": "bo@burst.example", "name": "Bo"})
        charge = pay(env.client, customer.id)
        wanted = ("customer.created", "charge.succeeded", "payment_intent.succeeded")
        listed = [e.to_dict() for e in reversed(env.client.v1.events.list({"limit": 100}).data)]
        burst = [
            e
            for e in listed
            if e["type"] in wanted
            and e["data"]["object"].get("customer", e["data"]["object"]["id"]) == customer.id
        ]
        assert sorted(e["type"] for e in burst) == sorted(wanted)
        # in the order Stripe may deliver events of one second: the charge before its customer
        deliver(*sorted(burst, key=lambda e: str(e["type"])))
        env.salesforce.reset_requests()
        assert worker.run_once()  # all three at once
        assert env.salesforce.requests()["api_calls"] == 2  # one query round, one write
        assert env.runtime.inbox.counts()["pending"] == 0
        [payment] = env.query(
            "SELECT Account__c, Contact__c FROM Stripe_Payment__c "
            f"WHERE Stripe_Charge_Id__c = '{charge}'"
        )
        assert payment["Account__c"] and payment["Contact__c"]
