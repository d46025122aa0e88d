"""The batch engine against both sandboxes, on SQLite and PostgreSQL: a partial failure of one
Collections call retries only the events whose records failed; a remembered link whose record
was deleted in Salesforce is dropped and the event planned again; two worker processes on
PostgreSQL apply a burst once, in lane order, locking the audit chain's head once per wave.

The first tests drive the worker themselves (`run_once`), so "after the first pass" is a point
in the run, not a moment in time. Nothing here asserts on timing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlalchemy import text

from stripe2sf.engine.worker import Worker
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.inbox import DONE, PENDING
from stripe2sf.store.links import Links
from tests.integration.test_sync_end_to_end import pay
from tests.support.procs import ROOT, stop
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
    for c in customers:  # a default card: the payments' own cards are not shown on the Account
        card = env.client.v1.payment_methods.attach("pm_card_visa", {"customer": c})
        env.client.v1.customers.update(c, {"invoice_settings": {"default_payment_method": card.id}})
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
    if sobject == "Account":
        assert account["Id"] != old["Id"]  # recreated (its Contacts went with the old one)
        # and its Contact with it: what stripe2sf wrote to the records before does not count
        [contact] = env.query(f"SELECT Id FROM Contact WHERE Stripe_Customer_Id__c = '{customer}'")
        assert payment["Contact__c"] == contact["Id"] != old["Id"]
    else:  # the Account is there: payments only link; the Contact comes with the customer
        assert payment["Contact__c"] is None

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


BURST_CUSTOMERS = 100
UPDATES = 2  # customer.updated events per customer, after its customer.created

# Every extension of the audit chain moves its head row once (`store.audit_trail.append`: the
# head is locked FOR UPDATE, then updated): a trigger counts the extensions and their entries.
COUNT_EXTENSIONS = """
CREATE TABLE test_audit_extensions (entries bigint NOT NULL);
CREATE FUNCTION test_count_extension() RETURNS trigger AS $$
BEGIN
    INSERT INTO test_audit_extensions VALUES (NEW.seq - OLD.seq);
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_count_extension AFTER UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION test_count_extension();
"""


def worker_process(env: SyncEnv, db_url: str, log: Path) -> subprocess.Popen[bytes]:
    box = env.salesforce
    settings = {
        "STRIPE_API_KEY": env.stripe.api_key,
        "STRIPE_API_BASE": env.stripe.api_base,
        "STRIPE_WEBHOOK_SECRET": env.runtime.settings.stripe_webhook_secrets[0],
        "SALESFORCE_LOGIN_URL": box.instance_url,
        "SALESFORCE_USERNAME": box.username,
        "SALESFORCE_PASSWORD": box.password,
        "SALESFORCE_SECURITY_TOKEN": box.security_token,
        "SALESFORCE_CA_BUNDLE": str(box.ca_path),
        "STRIPE2SF_DATABASE_URL": db_url,
        "STRIPE2SF_WORKER_CONCURRENCY": "2",
        "STRIPE2SF_BATCH_LANES": "10",  # the 100 lanes shared by the threads of both
        "STRIPE2SF_RETRY_BASE_SECONDS": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "stripe2sf", "worker"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **settings},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def test_c_two_worker_processes_apply_a_burst_once_in_lane_order_one_audit_lock_per_wave(
    pg_url: str, tmp_path: Path
) -> None:
    with sync_env(pg_url, run_worker=False) as env:
        client = env.client
        customers = new_customers(client, BURST_CUSTOMERS, "burst")
        for n in range(1, UPDATES + 1):
            for c in customers:
                client.v1.customers.update(c, {"name": f"Burst Version{n}"})
        assert env.stripe.wait_idle(timeout=60)
        total = BURST_CUSTOMERS * (1 + UPDATES)
        assert env.runtime.inbox.counts()[PENDING] == total
        with env.runtime.engine.begin() as conn:
            conn.exec_driver_sql(COUNT_EXTENSIONS)
        env.salesforce.reset_requests()

        # The burst waits until both processes run (either alone drains it before the other
        # has started): its lanes are due only once both said so.
        with env.runtime.engine.begin() as conn:
            conn.execute(text("UPDATE lanes SET next_due_at = next_due_at + interval '1 day'"))
        logs = [tmp_path / f"worker{i}.log" for i in range(2)]
        workers = [worker_process(env, pg_url, log) for log in logs]
        try:
            deadline = time.monotonic() + 240
            while not all(b"worker started" in log.read_bytes() for log in logs):
                assert time.monotonic() < deadline, [log.read_text() for log in logs]
                assert all(w.poll() is None for w in workers), "a worker process died"
                time.sleep(0.1)
            with env.runtime.engine.begin() as conn:
                conn.execute(text("UPDATE lanes SET next_due_at = next_due_at - interval '1 day'"))
            while env.runtime.inbox.counts()[DONE] < total:
                assert time.monotonic() < deadline, env.runtime.inbox.counts()
                assert all(w.poll() is None for w in workers), "a worker process died"
                time.sleep(0.3)
        finally:
            for w in workers:
                stop(w)
        calls = env.salesforce.requests()["api_calls"]

        with env.runtime.engine.connect() as conn:
            done = conn.execute(
                text("SELECT event_id, worker FROM attempts WHERE outcome = 'done'")
            ).all()
            lanes = conn.execute(
                text("SELECT event_id, lane FROM events ORDER BY lane, created, id")
            ).all()
            extensions = [
                r.entries for r in conn.execute(text("SELECT * FROM test_audit_extensions"))
            ]
        # Each event applied once, by both processes between them.
        assert len(done) == total and len({r.event_id for r in done}) == total
        assert len({r.worker.split(":")[1] for r in done}) == 2, "both processes must work"
        # In per-lane order: the audit trail holds each lane's events in the lane's order.
        first_seen: dict[str, int] = {}
        for row in AuditTrail(env.runtime.engine).iter_all():
            first_seen.setdefault(row["event_id"], row["seq"])
        by_lane: dict[str, list[str]] = {}
        for event_id, lane in lanes:
            by_lane.setdefault(lane, []).append(event_id)
        for lane, ids in by_lane.items():
            seqs = [first_seen[e] for e in ids if e in first_seen]
            assert seqs == sorted(seqs), f"{lane} applied out of order"
        contacts = env.query("SELECT LastName, Stripe_Customer_Id__c FROM Contact")
        assert sorted(c["Stripe_Customer_Id__c"] for c in contacts) == sorted(customers)
        assert {c["LastName"] for c in contacts} == {f"Version{UPDATES}"}  # the newest state
        # One lock of the audit head per wave, not per event: a few dozen waves of up to ten
        # lanes each took it (and not 300 events one by one).
        entries = AuditTrail(env.runtime.engine).head()
        assert entries is not None and sum(extensions) == entries.seq
        assert len(extensions) * 3 <= total, (len(extensions), total)
        print(
            f"burst: {total} events, {calls} Salesforce calls ({calls / total:.3f} per event), "
            f"{len(extensions)} audit extensions ({entries.seq / len(extensions):.1f} entries each)"
        )
