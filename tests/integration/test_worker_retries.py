"""Retries with backoff, dead letters and alerts, on SQLite and PostgreSQL (real SMTP server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.engine.handlers import Registry
from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.store.inbox import StoredEvent
from stripe2sf.web.intake import to_new_event
from tests.support.events import encode, event
from tests.support.smtp import Mailbox


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def runtime(db_url: str, mailbox: Mailbox) -> Iterator[Runtime]:
    settings = load_settings(
        database_url=db_url,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        alert_email_to=["ops@example.com"],
        alert_period_seconds=3600,
        retry_base_seconds=10,
        max_attempts=5,
    )
    rt = Runtime.build(settings, registry=Registry())
    yield rt
    rt.close()


def put(rt: Runtime, event_id: str, now: datetime, type: str = "invoice.payment_failed") -> None:
    doc = event(event_id, type=type, customer="cus_R", created=int(now.timestamp()))
    rt.inbox.add(to_new_event(doc, encode(doc), handled=True, source="webhook"), now)


def test_handler_failing_twice_then_succeeding_is_retried_with_growing_delays(
    runtime: Runtime,
) -> None:
    calls: list[datetime] = []
    clock = Clock()

    def flaky(event: StoredEvent) -> None:
        calls.append(clock())
        if len(calls) <= 2:
            raise RetryableError("Salesforce answered 503", kind="salesforce.503")

    runtime.registry.register("invoice.payment_failed", flaky)
    worker = runtime.worker()
    worker.clock = clock
    put(runtime, "evt_flaky", clock())

    assert worker.run_once()
    row = runtime.inbox.row("evt_flaky")
    assert row is not None and row["state"] == "pending" and row["attempts"] == 1
    first_delay = (row["next_attempt_at"] - clock()).total_seconds()
    assert 5 <= first_delay <= 10  # half fixed, half jittered, base 10 s

    assert not worker.run_once(), "not due yet: the lane must wait"
    clock.advance(first_delay)
    assert worker.run_once()
    row = runtime.inbox.row("evt_flaky")
    assert row is not None and row["attempts"] == 2
    second_delay = (row["next_attempt_at"] - clock()).total_seconds()
    assert 10 <= second_delay <= 20

    clock.advance(second_delay)
    assert worker.run_once()
    row = runtime.inbox.row("evt_flaky")
    assert row is not None and row["state"] == "done" and row["attempts"] == 3
    outcomes = [a["outcome"] for a in runtime.inbox.attempts_of("evt_flaky")]
    assert outcomes == ["retry", "retry", "done"]
    assert len(calls) == 3


def test_retry_blocks_later_events_of_the_same_customer(runtime: Runtime) -> None:
    clock = Clock()
    seen: list[str] = []

    def first_fails(event: StoredEvent) -> None:
        seen.append(event.event_id)
        if event.event_id == "evt_1" and seen.count("evt_1") == 1:
            raise RetryableError("row lock", kind="salesforce.UNABLE_TO_LOCK_ROW")

    runtime.registry.register("invoice.payment_failed", first_fails)
    worker = runtime.worker()
    worker.clock = clock
    put(runtime, "evt_1", clock())
    clock.advance(1)
    put(runtime, "evt_2", clock())
    worker.run_once()
    assert seen == ["evt_1"]
    assert not worker.run_once()
    clock.advance(60)
    worker.run_once()
    assert seen == ["evt_1", "evt_1", "evt_2"]


def test_permanent_failure_goes_straight_to_dead_letters_and_alerts_once_per_period(
    runtime: Runtime, mailbox: Mailbox
) -> None:
    def invalid(event: StoredEvent) -> None:
        raise PermanentError(
            "Salesforce refused: REQUIRED_FIELD_MISSING LastName", kind="salesforce.validation"
        )

    runtime.registry.register("invoice.payment_failed", invalid)
    worker = runtime.worker()
    clock = Clock()
    worker.clock = clock
    put(runtime, "evt_bad1", clock())
    assert worker.run_once()
    row = runtime.inbox.row("evt_bad1")
    assert row is not None and row["state"] == "dead" and row["attempts"] == 1
    assert "REQUIRED_FIELD_MISSING" in row["last_error"]
    assert runtime.inbox.dead_letter_ids() == ["evt_bad1"]

    deadline = time.monotonic() + 10
    while not mailbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert "evt_bad1" in message["Subject"]
    assert message["To"] == "ops@example.com"
    assert "stripe2sf replay evt_bad1" in message.get_payload()

    # Same kind of failure within the period: no second message.
    put(runtime, "evt_bad2", clock(), type="invoice.payment_failed")
    assert worker.run_once()
    assert runtime.inbox.dead_letter_ids() == ["evt_bad1", "evt_bad2"]
    time.sleep(0.3)
    assert len(mailbox.messages) == 1


def test_replay_brings_a_dead_letter_back(runtime: Runtime) -> None:
    fixed = {"ok": False}

    def until_fixed(event: StoredEvent) -> None:
        if not fixed["ok"]:
            raise PermanentError("bad mapping", kind="config")

    runtime.registry.register("invoice.payment_failed", until_fixed)
    worker = runtime.worker()
    put(runtime, "evt_replay", datetime.now(UTC))
    worker.run_once()
    assert runtime.inbox.dead_letter_ids() == ["evt_replay"]
    fixed["ok"] = True
    assert runtime.inbox.replay(["evt_replay", "evt_unknown"], datetime.now(UTC)) == ["evt_replay"]
    assert worker.run_once()
    row = runtime.inbox.row("evt_replay")
    assert row is not None and row["state"] == "done"


def test_transient_failures_give_up_after_max_attempts(runtime: Runtime) -> None:
    clock = Clock()

    def down(event: StoredEvent) -> None:
        raise ConnectionError("connection refused")

    runtime.registry.register("invoice.payment_failed", down)
    worker = runtime.worker()
    worker.clock = clock
    put(runtime, "evt_down", clock())
    for _ in range(5):
        assert worker.run_once()
        clock.advance(10_000)
    row = runtime.inbox.row("evt_down")
    assert row is not None and row["state"] == "dead" and row["attempts"] == 5
    assert "gave up after 5 attempts" in row["last_error"]
