"""The batch engine against both sandboxes, on SQLite and PostgreSQL: a partial failure of one
Collections call retries only the events whose records failed; a remembered link whose record
was deleted in Salesforce is dropped and the event planned again.

The tests drive the worker themselves (`run_once`), so "after the first pass" is a point in the
run, not a moment in time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from sqlalchemy import text

from stripe2sf.engine.worker import Worker
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.inbox import DONE, PENDING
from stripe2sf.store.links import Links
from tests.integration.test_sync_end_to_end import pay
from tests.support.sync_env import SyncEnv, sync_env

CUSTOMERS = 16


@pytest.fixture
def env(db_url: str) -> Iterator[SyncEnv]:
    with sync_env(db_url, run_worker=False) as e:
        yield e


def drain(env: SyncEnv, worker: Worker, timeout: float = 90) -> dict[str, int]:
    """Apply until nothing is pending (retries come due after ~0.2 s: `retry_base_seconds`)."""
    assert env.stripe.wait_idle(timeout=30)
    deadline = time.monotonic() + timeout
    while env.runtime.inbox.counts()[PENDING]:
        assert time.monotonic() < deadline, f"not drained: {env.runtime.inbox.counts()}"
        if not worker.run_once():
            time.sleep(0.05)
    return env.runtime.inbox.counts()


def new_customers(client: stripe.StripeClient, n: int, tag: str) -> list[str]:
    return [
        client.v1.customers.create(
            {"email": f"{tag}{i}@batch.example", "name": f"Batch Buyer{i}"}
        ).id
        for i in range(n)
    ]


def states(env: SyncEnv, event_ids: set[str]) -> dict[str, tuple[str, int]]:
    out = {}
    for event_id in event_ids:
        row = env.runtime.inbox.get(event_id)
        assert row is not None
        out[event_id] = (row.state, row.attempts)
    return out


def events_of(env: SyncEnv) -> list[dict[str, Any]]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT event_id, type, lane, state, attempts FROM events ORDER BY created, id")
        )
        return [dict(r._mapping) for r in rows]


def failed_writes(env: SyncEnv) -> dict[str, set[str]]:
    """Event id -> the errors of its writes the audit trail kept."""
    out: dict[str, set[str]] = {}
    for row in AuditTrail(env.runtime.engine).rows(limit=100_000):
        if row["outcome"] == "error":
            out.setdefault(row["event_id"], set()).add(str(row["error"]))
    return out


def test_a_partial_failure_retries_only_the_events_whose_records_failed(env: SyncEnv) -> None:
    worker = env.runtime.worker(concurrency=1)
    customers = new_customers(env.client, CUSTOMERS, "part")
    drain(env, worker)  # Accounts, Contacts and links exist: the payments go as Collections
    first = {e["event_id"] for e in events_of(env)}
    charges = {pay(env.client, c, amount=1_000 + i) for i, c in enumerate(customers)}
    assert env.stripe.wait_idle(timeout=30)
    paid = [e for e in events_of(env) if e["event_id"] not in first]
    assert {e["lane"] for e in paid} == set(customers)

    # Half of the records of every Collections write fail, the other half are committed.
    rule = env.salesforce.add_fault(
        "PATCH /composite/sobjects*", "UNABLE_TO_LOCK_ROW", rate=1.0, record_rate=0.5
    )
    assert worker.run_once()  # one batch: every lane (batch_lanes 200), wave after wave
    failed = failed_writes(env)
    assert failed and all(
        "unable to obtain exclusive access" in e for x in failed.values() for e in x
    )
    after = {e["event_id"]: e for e in events_of(env) if e["event_id"] not in first}
    by_lane: dict[str, list[dict[str, Any]]] = {}
    for e in paid:  # inbox order: the order of the lane
        by_lane.setdefault(e["lane"], []).append(after[e["event_id"]])
    retried = done = 0
    for lane, lane_events in by_lane.items():
        stopped = False
        for e in lane_events:
            if stopped:  # behind a retry: not tried yet
                assert (e["state"], e["attempts"]) == (PENDING, 0), (lane, e)
            elif e["event_id"] in failed:  # its own record failed: retried, the lane waits
                assert (e["state"], e["attempts"]) == (PENDING, 1), (lane, e)
                stopped = True
                retried += 1
            else:  # its records were written: done at once, in the same pass
                assert (e["state"], e["attempts"]) == (DONE, 1), (lane, e)
                done += 1
    assert retried and done, (retried, done)

    env.salesforce.remove_fault(rule["id"])
    counts = drain(env, worker)
    assert counts[PENDING] == 0 and counts["dead"] == 0
    assert all(e["state"] == DONE for e in events_of(env))
    payments = env.query("SELECT Stripe_Charge_Id__c, Amount__c, Account__c FROM Stripe_Payment__c")
    assert sorted(p["Stripe_Charge_Id__c"] for p in payments) == sorted(charges)  # no duplicate
    accounts = env.query("SELECT Id, Stripe_Customer_Id__c FROM Account")
    assert sorted(a["Stripe_Customer_Id__c"] for a in accounts) == sorted(customers)
    account_of = {a["Id"] for a in accounts}
    assert all(p["Account__c"] in account_of for p in payments)
    assert len(env.query("SELECT Id FROM Contact")) == CUSTOMERS


def linked(env: SyncEnv, customer: str) -> Any:
    return Links(env.runtime.engine).known([customer]).get(customer)


@pytest.mark.parametrize("sobject", ["Account", "Contact"])
def test_b_a_linked_record_deleted_in_salesforce_is_dropped_and_found_again(
    env: SyncEnv, sobject: str
) -> None:
    worker = env.runtime.worker(concurrency=1)
    [customer] = new_customers(env.client, 1, "gone")
    drain(env, worker)
    link = linked(env, customer)
    assert link is not None and link.complete
    [old] = env.query(f"SELECT Id FROM {sobject} WHERE Stripe_Customer_Id__c = '{customer}'")
    assert old["Id"] == (link.account_id if sobject == "Account" else link.contact_id)
    getattr(env.sf, sobject).delete(old["Id"])  # someone deletes it in Salesforce

    charge = pay(env.client, customer)
    counts = drain(env, worker)
    assert counts[PENDING] == 0 and counts["dead"] == 0
    assert all(e["state"] == DONE for e in events_of(env))
    errors = {r["error"] for r in AuditTrail(env.runtime.engine).rows() if r["outcome"] == "error"}
    assert errors, "the first attempt, planned from the remembered link, must have failed"
    [account] = env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{customer}'")
    [payment] = env.query(
        "SELECT Account__c, Contact__c FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{charge}'"
    )
    assert payment["Account__c"] == account["Id"]
    assert payment["Contact__c"] is None  # payments only link; the Contact comes with the customer
    if sobject == "Account":
        assert account["Id"] != old["Id"]  # recreated (its Contacts went with the old one)

    # The next customer event gives it its Contact again; the link names live records.
    env.client.v1.customers.update(customer, {"name": "Batch Again"})
    counts = drain(env, worker)
    assert counts[PENDING] == 0 and counts["dead"] == 0
    [contact] = env.query(
        f"SELECT Id, AccountId FROM Contact WHERE Stripe_Customer_Id__c = '{customer}'"
    )
    assert contact["Id"] != old["Id"] and contact["AccountId"] == account["Id"]
    link = linked(env, customer)
    assert link is not None
    assert (link.account_id, link.contact_id) == (account["Id"], contact["Id"])
