"""Four worker processes share a PostgreSQL inbox: per-customer order, exactly once."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text

from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.web.app import create_app
from tests.support.events import encode, event, signed
from tests.support.procs import start_worker, stop
from tests.support.servers import serve_in_thread
from tests.support.worker_proc import applied_rows, create_record_tables

SECRET = "whsec_order"
CUSTOMERS = 200
EVENTS = 5_000


def test_four_workers_apply_5000_shuffled_events_in_order_exactly_once(pg_url: str) -> None:
    runtime = Runtime.build(load_settings(database_url=pg_url, stripe_webhook_secrets=[SECRET]))
    create_record_tables(runtime.engine)
    rng = random.Random(7)
    base = 1_790_000_000
    docs = []
    for n in range(EVENTS):
        customer = f"cus_{n % CUSTOMERS:04d}"
        docs.append(event(f"evt_{n:05d}", customer=customer, created=base + n))
    rng.shuffle(docs)
    bodies = [encode(doc) for doc in docs]

    with (
        serve_in_thread(create_app(runtime, run_worker=False)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):

        def deliver(body: str) -> int:
            return client.post(
                "/webhooks/stripe", content=body, headers=signed(body, SECRET)
            ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(deliver, bodies))
    assert statuses.count(200) == EVENTS
    assert runtime.inbox.counts()["pending"] == EVENTS

    # 10 lanes per batch: the 200 lanes are shared by the 16 threads of the four processes.
    args = ("--per-claim", "10", "--concurrency", "4", "--batch-lanes", "10")
    workers = [start_worker(pg_url, *args) for _ in range(4)]
    try:
        deadline = time.monotonic() + 400
        while runtime.inbox.counts()["done"] < EVENTS:
            assert time.monotonic() < deadline, f"only {runtime.inbox.counts()} after 400 s"
            assert all(w.poll() is None for w in workers), "a worker process died"
            time.sleep(0.5)
    finally:
        for w in workers:
            stop(w)

    rows = applied_rows(runtime.engine)
    assert len(rows) == EVENTS
    assert len({event_id for _, event_id, _, _ in rows}) == EVENTS  # exactly once
    by_lane: dict[str, list[int]] = {}
    for _, _, lane, created in rows:
        by_lane.setdefault(lane, []).append(created)
    assert len(by_lane) == CUSTOMERS
    for lane, created in by_lane.items():
        assert created == sorted(created), f"{lane} applied out of order"
    with runtime.engine.connect() as conn:
        workers_used = conn.execute(
            text("SELECT count(DISTINCT worker) FROM test_applied")
        ).scalar()
    assert workers_used == 4, "the work must be shared by the four processes"
    runtime.close()
