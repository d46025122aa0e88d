"""A worker at concurrency 32 against both sandboxes: its HTTP and database pools hold every
thread, so no connection is opened and thrown away ("Connection pool is full")."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from stripe2sf.store.inbox import DONE, PENDING
from tests.support.sync_env import sync_env

CONCURRENCY = 32
CUSTOMERS = 96


def test_no_connection_is_discarded_at_concurrency_32(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    with sync_env(db_url, run_worker=False, worker_concurrency=CONCURRENCY, batch_lanes=1) as env:
        for i in range(CUSTOMERS):
            env.client.v1.customers.create({"email": f"pool{i}@load.example", "name": f"P {i}"})
        assert env.stripe.wait_idle(timeout=60)
        assert env.runtime.inbox.counts()[PENDING] == CUSTOMERS
        # Slow answers keep every thread's call open at once (what the pool must hold).
        env.salesforce.set_latency(100)
        worker = env.runtime.worker()
        assert worker.concurrency == CONCURRENCY
        stop = threading.Event()
        runner = threading.Thread(target=worker.run, args=(stop,))
        runner.start()
        try:
            deadline = time.monotonic() + 120
            while env.runtime.inbox.counts()[PENDING]:
                assert time.monotonic() < deadline, env.runtime.inbox.counts()
                time.sleep(0.2)
        finally:
            stop.set()
            runner.join()
        assert env.runtime.inbox.counts()[DONE] == CUSTOMERS
        calls = env.salesforce.requests()["api_calls"]
    full = [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()]
    assert not full, f"{len(full)} connections discarded, e.g. {full[0]}"
    assert calls > CONCURRENCY  # the threads did call Salesforce
