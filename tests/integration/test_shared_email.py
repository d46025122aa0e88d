"""Two Stripe customers with one email, end to end: each gets an Account of its own, the email
keeps one Contact (the first customer's), each customer's payments land on its own Account,
and neither writes into the other's records. Also when both are new at the same moment on two
workers of one PostgreSQL database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.planner import plan
from stripe2sf.runtime import Runtime
from tests.integration.test_sync_end_to_end import pay
from tests.support.sync_env import SyncEnv, sync_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SyncEnv]:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}") as e:
        yield e


def _contacts(env: SyncEnv, email: str) -> list[dict[str, object]]:
    return [
        c
        for c in env.query(
            "SELECT Id, Email, AccountId, LastName, Stripe_Customer_Id__c FROM Contact"
        )
        if str(c["Email"] or "").lower() == email
    ]


def _accounts(env: SyncEnv) -> dict[str, str]:
    rows = env.query("SELECT Id, Stripe_Customer_Id__c FROM Account")
    return {str(r["Stripe_Customer_Id__c"]): str(r["Id"]) for r in rows}


def test_two_customers_with_one_email_keep_their_own_records(env: SyncEnv) -> None:
    client = env.client
    first = client.v1.customers.create({"email": "pat@shared.example", "name": "Pat One"})
    first_charge = pay(client, first.id, amount=1_100)
    env.drain()
    second = client.v1.customers.create({"email": "PAT@Shared.Example", "name": "Pat Two"})
    second_charge = pay(client, second.id, amount=2_200, pm="pm_card_mastercard")
    # both customers change again: the first one's Contact write must still find its Contact
    client.v1.customers.update(first.id, {"phone": "+1 555 0100"})
    client.v1.customers.update(second.id, {"phone": "+1 555 0200"})
    counts = env.drain()
    assert counts["dead"] == 0

    accounts = _accounts(env)
    assert set(accounts) == {first.id, second.id}
    [contact] = _contacts(env, "pat@shared.example")
    assert contact["Stripe_Customer_Id__c"] == first.id
    assert contact["AccountId"] == accounts[first.id] and contact["LastName"] == "One"
    payments = {
        p["Stripe_Charge_Id__c"]: p
        for p in env.query(
            "SELECT Stripe_Charge_Id__c, Account__c, Contact__c, Amount__c FROM Stripe_Payment__c"
        )
    }
    assert payments[first_charge]["Account__c"] == accounts[first.id]
    assert payments[first_charge]["Contact__c"] == contact["Id"]
    assert payments[second_charge]["Account__c"] == accounts[second.id]
    assert payments[second_charge]["Contact__c"] is None
    [review] = env.query(
        f"SELECT Subject, Description FROM Task WHERE Stripe_Dedupe_Key__c = 'review:{second.id}'"
    )
    assert first.id in str(review["Description"]) and str(contact["Id"]) in str(
        review["Description"]
    )
    [card] = env.query(
        f"SELECT Card_Last4__c FROM Account WHERE Stripe_Customer_Id__c = '{first.id}'"
    )
    assert card["Card_Last4__c"] != "4444"  # the second customer's card stays on its own


def test_two_new_customers_with_one_email_on_two_workers_make_one_contact(pg_url: str) -> None:
    with sync_env(pg_url, run_worker=False) as env:
        client = env.client
        customers = [
            client.v1.customers.create({"email": email, "name": name})
            for email, name in (
                ("lee@shared.example", "Lee One"),
                ("Lee@SHARED.example", "Lee Two"),
            )
        ]
        ids = {c.id for c in customers}
        env.stripe.wait_idle(timeout=20)
        events = [
            e.id
            for e in client.v1.events.list({"type": "customer.created"}).data
            if e.data.object.id in ids
        ]
        stored = [env.runtime.inbox.get(event_id) for event_id in events]
        assert all(s is not None for s in stored) and len(stored) == 2
        both_hydrated = threading.Barrier(2)

        def work(n: int) -> None:
            # a worker of its own: own engines and Salesforce session, as a process has
            runtime = Runtime.build(env.runtime.settings, migrate=False)
            try:
                handler = runtime.sync_handler()
                event = stored[n]
                assert event is not None
                view = parse_event(event.payload)
                ctx = handler.hydrate(view)
                both_hydrated.wait(timeout=30)  # neither has written anything yet
                handler.execute_plan(plan(view, ctx, handler.config))
            finally:
                runtime.close()

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(work, range(2)))

        assert set(_accounts(env)) == ids
        [contact] = _contacts(env, "lee@shared.example")
        assert contact["Stripe_Customer_Id__c"] in ids
        loser = (ids - {contact["Stripe_Customer_Id__c"]}).pop()
        assert env.query(f"SELECT Id FROM Task WHERE Stripe_Dedupe_Key__c = 'review:{loser}'"), (
            "the customer without a Contact is in the review queue"
        )
