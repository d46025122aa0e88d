"""The worker: claims lanes, applies each lane's events in order, retries or dead-letters.

One `Worker` runs `concurrency` threads; several worker processes may share a PostgreSQL inbox.
A lease must outlast the slowest handler call: Salesforce and Stripe calls time out well within
the default 60 s.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from stripe2sf import metrics
from stripe2sf.domain.budget import Defer
from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.retry import DeadLetter, RetryPolicy, decide
from stripe2sf.engine.alerts import Alerter
from stripe2sf.engine.budget import BudgetGate, is_limit_exceeded
from stripe2sf.engine.handlers import Registry
from stripe2sf.store.inbox import Claim, Head, Inbox, Moved, StoredEvent

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _error_kind(exc: BaseException) -> str:
    return exc.kind if isinstance(exc, SyncError) else type(exc).__name__


class Worker:
    def __init__(
        self,
        inbox: Inbox,
        registry: Registry,
        *,
        alerter: Alerter | None = None,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 4,
        poll_interval: float = 0.2,
        max_events_per_claim: int = 100,
        clock: Callable[[], datetime] = utcnow,
        name: str | None = None,
        budget: BudgetGate | None = None,
    ) -> None:
        self.inbox = inbox
        self.registry = registry
        self.alerter = alerter
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.max_events_per_claim = max_events_per_claim
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._rng = random.Random()
        self.budget = budget
        self._held: dict[str, str] = {}  # owner (thread) -> lane it holds now
        self._held_lock = threading.Lock()

    # -- one unit of work ------------------------------------------------------------------

    def run_once(self, owner: str | None = None) -> bool:
        """Claim one due lane and apply its due events; False when nothing was due."""
        owner = owner or self.name
        claim = self.inbox.claim_lane(owner, self.clock(), self.lease)
        if claim is None:
            return False
        released = False
        with self._held_lock:
            self._held[owner] = claim.lane
        try:
            with structlog.contextvars.bound_contextvars(batch_id=uuid.uuid4().hex[:12]):
                released = self._drain(claim, owner)
        finally:
            with self._held_lock:
                self._held.pop(owner, None)
            if not released:
                self.inbox.release(claim.lane, owner)
        return True

    def renew_held(self) -> list[str]:
        """Extend the lease of every lane this worker's threads hold now; the lanes whose lease
        was already lost. A handler call may outlast the lease (a slow Salesforce, a long
        retry-after): without this, another worker would take the lane and apply its events
        at the same time."""
        with self._held_lock:
            held = list(self._held.items())
        lost = []
        for owner, lane in held:
            if not self.inbox.renew(lane, owner, self.clock(), self.lease):
                lost.append(lane)
                log.warning("lease_lost", worker=owner, lane=lane)
        return lost

    def _drain(self, claim: Claim, owner: str) -> bool:
        """Apply the claimed lane's due events in order; True when the last completion already
        gave the (now empty) lane back."""
        head: Head | None = claim.head
        for _ in range(self.max_events_per_claim):
            if head is None or head.event is None:
                break
            if head.due is not None and head.due > self.clock():
                break
            head = self._apply(head.event, owner)
            if head is not None and head.released:
                return True
        if self.budget is not None and self.budget.tight():  # failed payments go on
            for urgent in self.inbox.behind_deferred_head(claim.lane, self.clock()):
                if self._apply(urgent, owner, jump=True) is None:
                    break
        return False

    def _apply(self, event: StoredEvent, owner: str, jump: bool = False) -> Head | None:
        """Apply one event; the lane's next head when it may go on to it, else None. `jump`:
        the event is behind a head deferred by the API budget; it waits quietly unless the
        budget allows it now."""
        started = self.clock()
        handler = self.registry.get(event.type)
        bound = log.bind(event_id=event.event_id, event_type=event.type, customer_id=event.lane)
        if self.budget is not None and handler is not None:
            verdict = self.budget.check(event.type, lambda: event.source)
            if isinstance(verdict, Defer):
                if jump:
                    return Head(None, None)  # go on to the next urgent event
                self._defer(event, owner, verdict.seconds, verdict.reason, bound)
                return None
        try:
            applied = handler(event) if handler is not None else None
        except Exception as exc:
            return self._failed(event, owner, started, exc, bound)
        if isinstance(applied, Moved):
            head = self.inbox.move(event, owner, started, self.clock(), applied.lane, self.lease)
            if head is not None:
                bound.info("event_moved", lane=applied.lane)
            return head
        head = self.inbox.complete(event, owner, started, self.clock(), self.lease, applied)
        if head is None:
            bound.warning("lease_lost", worker=owner)
            return None
        bound.info("event_applied", attempt=event.attempts + 1)
        metrics.event_outcome(event.type, "done")
        metrics.synced(event.type, event.received_at, self.clock())
        return head

    def _defer(
        self,
        event: StoredEvent,
        owner: str,
        seconds: float,
        reason: str,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> None:
        """The API budget makes the lane wait; no attempt is counted, nothing is lost."""
        now = self.clock()
        until = now + timedelta(seconds=seconds)
        self.inbox.defer(event, owner, now, until, reason, self.lease)
        metrics.event_outcome(event.type, "deferred")
        bound.info("event_deferred", until=until.isoformat(), reason=reason)

    def _failed(
        self,
        event: StoredEvent,
        owner: str,
        started: datetime,
        exc: BaseException,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> Head | None:
        now = self.clock()
        kind = _error_kind(exc)
        if self.budget is not None and is_limit_exceeded(exc):
            self._defer(event, owner, self.budget.limit_exceeded(), str(exc), bound)
            return None
        decision = decide(
            attempt=event.attempts + 1,
            error=exc,
            first_seen=event.received_at,
            now=now,
            policy=self.policy,
            rng=self._rng,
        )
        if isinstance(decision, DeadLetter):
            head = self.inbox.dead_letter(
                event, owner, started, now, decision.reason, kind, self.lease
            )
            if head is None:
                bound.warning("lease_lost", worker=owner, outcome="dead")
                return None
            bound.error("event_dead_lettered", reason=decision.reason, error_kind=kind)
            metrics.event_outcome(event.type, "dead")
            if self.alerter is not None:
                self.alerter.notify(
                    f"dead_letter:{kind}",
                    f"Event {event.event_id} ({event.type}) moved to the dead letters",
                    f"Reason: {decision.reason}\nKind: {kind}\nLane: {event.lane}\n"
                    f"Attempts: {event.attempts + 1}\n"
                    f"Fix the cause, then: stripe2sf replay {event.event_id}",
                )
            return head
        if not self.inbox.retry_later(
            event, owner, started, now, decision.at, decision.reason, kind, self.lease
        ):
            bound.warning("lease_lost", worker=owner, outcome="retry")
            return None
        bound.warning("event_retry_scheduled", at=decision.at.isoformat(), error_kind=kind)
        metrics.event_outcome(event.type, "retry")
        metrics.retried(kind)
        return Head(None, None, released=True)  # the lane waits for the retry, given back

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Run `concurrency` threads until `stop` is set; returns when all have finished."""
        threads = [
            threading.Thread(
                target=self._loop, args=(stop, f"{self.name}/{i}"), name=f"worker-{i}", daemon=True
            )
            for i in range(self.concurrency)
        ]
        keeper = threading.Thread(target=self._keep_leases, args=(stop,), name="lease-keeper")
        keeper.daemon = True
        for thread in [*threads, keeper]:
            thread.start()
        for thread in threads:
            thread.join()
        keeper.join()

    def _keep_leases(self, stop: threading.Event) -> None:
        """Renew held leases every third of the lease, so one missed renewal is not fatal."""
        interval = max(0.05, self.lease.total_seconds() / 3)
        while not stop.wait(interval):
            try:
                self.renew_held()
            except Exception as exc:  # database outage: the next round tries again
                log.error("lease_renewal_error", error=str(exc))

    def _loop(self, stop: threading.Event, owner: str) -> None:
        while not stop.is_set():
            try:
                worked = self.run_once(owner)
            except Exception as exc:  # database outage: keep the worker alive, try again
                log.error("worker_loop_error", error=str(exc), worker=owner)
                worked = False
                stop.wait(min(5.0, self.poll_interval * 10))
            if not worked:
                stop.wait(self.poll_interval)
