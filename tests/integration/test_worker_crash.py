"""A worker killed with SIGKILL mid-lease: its lane is taken again after the lease expires."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

from sqlalchemy import text

from stripe2sf.store.db import make_engine, upgrade
from stripe2sf.store.inbox import Inbox
from stripe2sf.web.intake import to_new_event
from tests.support.events import encode, event
from tests.support.procs import start_worker, stop
from tests.support.worker_proc import applied_rows, create_record_tables


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_killed_worker_lane_is_processed_after_its_lease_each_event_once(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    create_record_tables(engine)
    inbox = Inbox(engine)
    now = datetime.now(UTC)
    base = int(now.timestamp())
    # Customer A: the slow event first, then two more; customer B: three events.
    ids = {"cus_A": ["evt_a0", "evt_a1", "evt_a2"], "cus_B": ["evt_b0", "evt_b1", "evt_b2"]}
    for customer, event_ids in ids.items():
        for i, event_id in enumerate(event_ids):
            doc = event(event_id, customer=customer, created=base + i)
            inbox.add(to_new_event(doc, encode(doc), True, "webhook"), now)

    # One lane per batch: a wave waits for its slowest event, and lane B must go on meanwhile
    # in another thread of the victim.
    victim = start_worker(
        db_url, "--lease", "3", "--slow", "evt_a0", "--sleep", "120", "--batch-lanes", "1"
    )
    try:

        def slow_started() -> bool:
            with engine.connect() as conn:
                return bool(
                    conn.execute(
                        text("SELECT count(*) FROM test_started WHERE event_id = 'evt_a0'")
                    ).scalar()
                )

        wait_for(slow_started, 60, "the victim to start evt_a0")
        # Lane B must be recorded done (not only applied) before the kill, or the kill could
        # land between the handler's effect and its completion: that case is at-least-once.
        wait_for(lambda: inbox.counts()["done"] == 3, 60, "the victim to complete lane B")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert inbox.get("evt_a0").state == "pending"  # type: ignore[union-attr]
    finally:
        stop(victim)

    rescuer = start_worker(db_url, "--lease", "3")
    try:
        wait_for(lambda: inbox.counts()["done"] == 6, 60, "the rescuer to finish lane A")
    finally:
        stop(rescuer)

    rows = applied_rows(engine)
    applied_ids = [event_id for _, event_id, _, _ in rows]
    assert sorted(applied_ids) == sorted(ids["cus_A"] + ids["cus_B"])  # each exactly once
    lane_a = [event_id for _, event_id, lane, _ in rows if lane == "cus_A"]
    assert lane_a == ["evt_a0", "evt_a1", "evt_a2"]
    engine.dispose()
