"""The budget gate: readings, the REQUEST_LIMIT_EXCEEDED pause, re-reading a stale usage."""

from __future__ import annotations

import time

from stripe2sf.domain.batch.budget import BudgetPolicy, Defer, Priority, Proceed
from stripe2sf.domain.errors import RateLimitedError, RetryableError
from stripe2sf.engine.budget import BudgetGate, is_limit_exceeded
from stripe2sf.salesforce.usage import UsageTracker

POLICY = BudgetPolicy(reserve_share=0.2, slow_from=0.8, defer_seconds=60, pause_seconds=300)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # the tracker stamps readings with time.time()

    def __call__(self) -> float:
        return self.now


def test_gate_reads_usage_and_orders_work_by_priority() -> None:
    tracker = UsageTracker()
    clock = Clock()
    reads: list[int] = []
    gate = BudgetGate(POLICY, tracker.snapshot, clock, refresh=lambda: reads.append(1))
    assert isinstance(gate.check("customer.created"), Proceed)  # nothing seen yet
    tracker.record("rest", "ok", "api-usage=850/1000")
    assert isinstance(gate.check("invoice.payment_failed"), Proceed)
    assert isinstance(gate.check("customer.subscription.updated"), Defer)
    assert isinstance(gate.check("charge.succeeded", lambda: "webhook"), Defer)
    assert not gate.allows(Priority.BACKFILL)
    assert gate.allows(Priority.FAILED_PAYMENT)
    assert reads == []  # the reading is fresh: no extra call


def test_stale_reading_is_read_again_at_most_once_per_defer_period() -> None:
    tracker = UsageTracker()
    tracker.record("rest", "ok", "api-usage=850/1000")
    clock = Clock()

    answers = ["api-usage=860/1000", "api-usage=10/1000"]
    reads: list[str] = []

    def refresh() -> None:
        reads.append(answers[len(reads)])
        tracker.record("limits", "ok", reads[-1])

    gate = BudgetGate(POLICY, tracker.snapshot, clock, refresh=refresh)
    assert isinstance(gate.check("charge.succeeded"), Defer)
    assert reads == []
    clock.now += 3600  # an hour-old reading is read again: still busy
    assert isinstance(gate.check("charge.succeeded"), Defer)
    assert isinstance(gate.check("charge.succeeded"), Defer)
    assert len(reads) == 1  # not again within the defer period
    clock.now += 61  # next period, and the reading is old again: read, now there is room
    assert isinstance(gate.check("charge.succeeded"), Proceed)
    assert len(reads) == 2


def test_limit_exceeded_pauses_everything_then_probes() -> None:
    tracker = UsageTracker()
    clock = Clock()
    gate = BudgetGate(POLICY, tracker.snapshot, clock)
    tracker.record("rest", "rate_limited", "api-usage=1000/1000")
    assert gate.limit_exceeded() == 300
    verdict = gate.check("invoice.payment_failed")
    assert isinstance(verdict, Defer) and verdict.seconds == 300
    clock.now += 301  # the pause is over, and the reading is old: one call may probe
    assert isinstance(gate.check("invoice.payment_failed"), Proceed)


def test_is_limit_exceeded() -> None:
    assert is_limit_exceeded(
        RateLimitedError("x", kind="salesforce.REQUEST_LIMIT_EXCEEDED", retry_after=300)
    )
    assert not is_limit_exceeded(RateLimitedError("x", kind="salesforce.HTTP_429"))
    assert not is_limit_exceeded(RetryableError("x", kind="salesforce.503"))
