"""A real `Worker` in its own process with a handler that records what it applies.

    python -m tests.support.worker_proc DB_URL --lease 2 --slow evt_x --per-claim 3

The handler writes `started` before and `applied` after its (optional) sleep, each in its own
transaction, so a test can kill the process mid-lease and see exactly what happened.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from datetime import timedelta

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, text

from stripe2sf.domain.batch.retry import RetryPolicy
from stripe2sf.engine.handlers import Registry
from stripe2sf.engine.worker import Worker
from stripe2sf.store.db import make_engine
from stripe2sf.store.inbox import Inbox, StoredEvent
from stripe2sf.store.tables import PK

record_meta = MetaData()
started = Table(
    "test_started",
    record_meta,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("event_id", String(255)),
    Column("worker", Integer),
)
applied = Table(
    "test_applied",
    record_meta,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("event_id", String(255)),
    Column("lane", String(255)),
    Column("created", Integer),
    Column("worker", Integer),
)


def create_record_tables(engine: Engine) -> None:
    record_meta.create_all(engine)


def applied_rows(engine: Engine) -> list[tuple[int, str, str, int]]:
    with engine.connect() as conn:
        return [
            (r.id, r.event_id, r.lane, r.created)
            for r in conn.execute(text("SELECT * FROM test_applied ORDER BY id"))
        ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--lease", type=float, default=30)
    parser.add_argument("--slow", default="")
    parser.add_argument("--sleep", type=float, default=60)
    parser.add_argument("--per-claim", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch-lanes", type=int, default=200)
    args = parser.parse_args()

    engine = make_engine(args.url)
    pid = os.getpid()

    def record(event: StoredEvent) -> None:
        with engine.begin() as conn:
            conn.execute(started.insert().values(event_id=event.event_id, worker=pid))
        if event.event_id == args.slow:
            time.sleep(args.sleep)
        with engine.begin() as conn:
            conn.execute(
                applied.insert().values(
                    event_id=event.event_id, lane=event.lane, created=event.created, worker=pid
                )
            )

    registry = Registry()
    registry.register("charge.succeeded", record)
    worker = Worker(
        Inbox(engine),
        registry,
        policy=RetryPolicy(),
        lease=timedelta(seconds=args.lease),
        concurrency=args.concurrency,
        poll_interval=0.05,
        max_events_per_claim=args.per_claim,
        batch_lanes=args.batch_lanes,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.run(stop)


if __name__ == "__main__":
    main()
