"""The API budget applied: reads the Salesforce usage this process saw, asks
`domain.batch.budget.decide`, and remembers a REQUEST_LIMIT_EXCEEDED pause."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from stripe2sf.domain.batch import budget
from stripe2sf.domain.errors import RateLimitedError
from stripe2sf.salesforce.usage import ApiUsageSnapshot

log = structlog.get_logger(__name__)

LIMIT_EXCEEDED_KIND = "salesforce.REQUEST_LIMIT_EXCEEDED"


def is_limit_exceeded(error: BaseException) -> bool:
    """The org's daily allocation is used up: a pause, not a failure of the event."""
    if isinstance(error, RateLimitedError) and error.kind == LIMIT_EXCEEDED_KIND:
        return True
    return "REQUEST_LIMIT_EXCEEDED" in str(error) and isinstance(error, RateLimitedError)


class BudgetGate:
    """One per process, shared by the worker's threads (and backfill/reconcile)."""

    def __init__(
        self,
        policy: budget.BudgetPolicy,
        usage: Callable[[], ApiUsageSnapshot | None],
        clock: Callable[[], float] = time.time,
        refresh: Callable[[], object] | None = None,
    ) -> None:
        self.policy = policy
        self.usage = usage
        self.clock = clock
        self.refresh = refresh  # one cheap call that reads the usage again (GET /limits)
        self._lock = threading.Lock()
        self._paused_until: float | None = None
        self._refreshed_at = 0.0

    def reading(self) -> budget.Usage:
        snapshot = self.usage()
        now = self.clock()
        with self._lock:
            paused_for = (
                self._paused_until - now
                if self._paused_until is not None and self._paused_until > now
                else None
            )
        if snapshot is None:
            return budget.Usage(None, None, None, paused_for)
        age = now - snapshot.seen_at if snapshot.seen_at is not None else None
        return budget.Usage(snapshot.used, snapshot.limit, age, paused_for)

    def check(self, event_type: str, source: Callable[[], str] | None = None) -> budget.Verdict:
        """The verdict for an event; `source` (looked up only when the budget is tight) tells
        backfill and reconcile events from webhooks."""
        reading = self.reading()
        level = budget.allowed_level(reading, self.policy)
        origin = source() if source is not None and level < budget.Priority.BACKFILL else "webhook"
        priority = budget.priority_of(event_type, origin)
        verdict = budget.decide(priority, reading, self.policy)
        if isinstance(verdict, budget.Defer) and self._stale(reading):
            # Work waits on a reading nobody refreshes while it waits: read the usage again.
            self.read_again()
            verdict = budget.decide(priority, self.reading(), self.policy)
        return verdict

    def _stale(self, reading: budget.Usage) -> bool:
        if self.refresh is None or (reading.paused_for or 0) > 0:
            return False
        if reading.age_seconds is not None and reading.age_seconds < self.policy.defer_seconds:
            return False
        with self._lock:
            return self.clock() - self._refreshed_at >= self.policy.defer_seconds

    def read_again(self) -> None:
        """Read the org's usage now (one API call), at most once per `defer_seconds`."""
        with self._lock:
            self._refreshed_at = self.clock()
        if self.refresh is None:
            return
        try:
            self.refresh()
        except Exception as exc:  # a REQUEST_LIMIT_EXCEEDED here still updated the reading
            log.info("budget_refresh_failed", error=str(exc))

    def tight(self) -> bool:
        """Some work waits now (cheap: no database, no call)."""
        return budget.allowed_level(self.reading(), self.policy) < budget.Priority.BACKFILL

    def allows(self, priority: budget.Priority) -> bool:
        """For bulk work (backfill, reconcile): may it call Salesforce now?"""
        verdict = budget.decide(priority, self.reading(), self.policy)
        return isinstance(verdict, budget.Proceed)

    def limit_exceeded(self) -> float:
        """Salesforce refused with REQUEST_LIMIT_EXCEEDED: pause; returns the pause seconds."""
        with self._lock:
            self._paused_until = self.clock() + self.policy.pause_seconds
        log.warning("salesforce_api_paused", seconds=self.policy.pause_seconds)
        return self.policy.pause_seconds
