"""Catch-up inside `serve`: webhooks dropped by the Stripe sandbox are found through the
Events API by the periodic loop, queued, and synced like any delivered event."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stripe2sf.engine.catchup_loop import start_catchup
from stripe2sf.store.tables import events
from tests.integration.test_sync_end_to_end import pay
from tests.support.sync_env import SyncEnv, sync_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SyncEnv]:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}") as e:
        yield e


def test_catch_up_after_dropped_webhooks_processes_the_missing_events(env: SyncEnv) -> None:
    env.stripe.faults(drop_rate=1.0)
    customer = env.client.v1.customers.create({"email": "lost@dropped.example", "name": "Lo St"})
    charge = pay(env.client, customer.id)
    assert env.stripe.wait_idle(timeout=20)
    time.sleep(0.5)
    assert env.runtime.inbox.counts()["pending"] == 0
    assert env.query("SELECT Id FROM Account") == [], "nothing can have arrived"

    stop = threading.Event()
    thread = start_catchup(env.runtime, stop, interval=0.2)
    assert thread is not None
    try:
        deadline = time.monotonic() + 30
        while not env.query(
            f"SELECT Id FROM Stripe_Payment__c WHERE Stripe_Charge_Id__c = '{charge}'"
        ):
            assert time.monotonic() < deadline, env.runtime.inbox.counts()
            time.sleep(0.2)
        env.stripe.faults(drop_rate=0.0)
        env.drain()
    finally:
        stop.set()
        thread.join(timeout=10)

    [account] = env.query("SELECT Id, Stripe_Customer_Id__c FROM Account")
    assert account["Stripe_Customer_Id__c"] == customer.id
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(select(events.c.source, events.c.state, events.c.type)).all()
    caught = [r for r in rows if r.source == "catchup"]
    assert caught and all(r.state in ("done", "ignored") for r in rows)
    assert {"customer.created", "charge.succeeded"} <= {r.type for r in caught}
