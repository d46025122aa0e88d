"""A lane is applied by one worker at a time, always: after a dead letter, while a handler
outlasts its lease, and when a lease was lost before a failure is recorded (SQLite and
PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from stripe2sf.domain.errors import PermanentError
from stripe2sf.engine.handlers import Registry
from stripe2sf.engine.worker import Worker
from stripe2sf.store.db import make_engine, upgrade
from stripe2sf.store.inbox import Finished, Inbox, StoredEvent
from stripe2sf.web.intake import to_new_event
from tests.support.events import encode, event

LEASE = timedelta(seconds=60)


def _inbox(db_url: str) -> Inbox:
    upgrade(db_url)
    return Inbox(make_engine(db_url))


def _put(inbox: Inbox, event_id: str, created: int, customer: str = "cus_L") -> None:
    doc = event(event_id, type="charge.succeeded", customer=customer, created=created)
    inbox.add(to_new_event(doc, encode(doc), True, "webhook"), datetime.now(UTC))


def test_after_a_dead_letter_the_worker_keeps_its_lease_while_it_goes_on(db_url: str) -> None:
    inbox = _inbox(db_url)
    base = int(datetime.now(UTC).timestamp())
    _put(inbox, "evt_bad", base)
    _put(inbox, "evt_next", base + 1)
    entered, go_on = threading.Event(), threading.Event()

    def handler(ev: StoredEvent) -> None:
        if ev.event_id == "evt_bad":
            raise PermanentError("Salesforce refused the record", kind="salesforce.INVALID")
        entered.set()
        assert go_on.wait(30)

    registry = Registry()
    registry.register("charge.succeeded", handler)
    worker = Worker(inbox, registry, lease=LEASE, name="A")
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    try:
        assert entered.wait(30), "the worker did not go on to the lane's next event"
        later = datetime.now(UTC) + timedelta(seconds=1)
        assert inbox.claim_batch("B", later, LEASE, 10, 10) == [], "another worker took the lane"
    finally:
        go_on.set()
        runner.join(30)
    assert inbox.row("evt_bad")["state"] == "dead"  # type: ignore[index]
    assert inbox.row("evt_next")["state"] == "done"  # type: ignore[index]
    assert [a["outcome"] for a in inbox.attempts_of("evt_bad")] == ["dead"]


def test_a_failure_after_the_lease_was_lost_records_nothing_and_alerts_nothing(
    db_url: str,
) -> None:
    inbox = _inbox(db_url)
    _put(inbox, "evt_x", int(datetime.now(UTC).timestamp()))
    now = datetime.now(UTC)
    [claim] = inbox.claim_batch("A", now, timedelta(seconds=1), 10, 10)
    [ev] = claim.events
    taken = inbox.claim_batch("B", now + timedelta(seconds=5), LEASE, 10, 10)
    assert [c.lane for c in taken] == [ev.lane], "an expired lease is free"
    at = now + timedelta(seconds=6)
    dead = Finished(ev, now, "dead", error="refused", kind="salesforce.X")
    retry = Finished(ev, now, "retry", error="503", kind="salesforce.503", at=at)
    assert inbox.record("A", at, LEASE, [dead], release=["cus_L"]) == {ev.lane}
    assert inbox.record("A", at, LEASE, [retry], release=["cus_L"]) == {ev.lane}
    row = inbox.row("evt_x")
    assert row is not None and row["state"] == "pending" and row["attempts"] == 0
    assert inbox.attempts_of("evt_x") == []


def test_a_handler_outlasting_its_lease_keeps_the_lane(db_url: str) -> None:
    """The worker's lease keeper renews held lanes; a second worker never gets the lane while
    the first still applies it."""
    inbox = _inbox(db_url)
    _put(inbox, "evt_slow", int(datetime.now(UTC).timestamp()))
    entered, go_on = threading.Event(), threading.Event()

    def slow(ev: StoredEvent) -> None:
        entered.set()
        assert go_on.wait(30)

    registry = Registry()
    registry.register("charge.succeeded", slow)
    lease = timedelta(seconds=1.5)
    worker = Worker(inbox, registry, lease=lease, concurrency=1, poll_interval=0.05, name="A")
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,))
    runner.start()
    try:
        assert entered.wait(30)
        # Three leases long, each claim a little later than the last renewal could have been.
        for _ in range(9):
            assert not go_on.wait(0.5)
            assert inbox.claim_batch("B", datetime.now(UTC), lease, 10, 10) == [], "lane taken"
    finally:
        go_on.set()
        stop.set()
        runner.join(30)
    assert inbox.row("evt_slow")["state"] == "done"  # type: ignore[index]
