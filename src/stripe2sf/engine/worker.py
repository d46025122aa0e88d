"""The worker: claims many lanes at once and applies their events in waves.

    claim   `Inbox.claim_batch`: up to `batch_lanes` due lanes, each with its consecutive due
            events in order (at most `max_events_per_claim`), one transaction
    waves   the k-th event of every lane in the k-th wave (`domain.batch.order`); the API
            budget may defer a lane's event (the lane stops there)
    apply   a wave goes to its handler at once (`SyncHandler.apply_batch`: hydrate -> plan ->
            merge -> send -> map back); per-event handlers are called one by one
    decide  per event: done, moved to its charge's lane, retried (the lane stops) or dead
            (the lane goes on), from the handler's answer and `domain.batch.retry.decide`
    record  `Inbox.record`: the wave's outcomes, ledger and one audit chain extension in one
            transaction; the lanes that stop are given back in it

One `Worker` runs `concurrency` threads; several worker processes may share a PostgreSQL inbox.
Leases are renewed by the lease keeper (`renew_held`) while a wave is out, so a lane is applied
by one worker at a time however long Salesforce takes.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from stripe2sf import metrics
from stripe2sf.domain.batch.budget import Defer
from stripe2sf.domain.batch.order import joins_wave, waves
from stripe2sf.domain.batch.org_rules import fix_for
from stripe2sf.domain.batch.retry import DeadLetter, RetryPolicy, decide
from stripe2sf.domain.errors import SyncError
from stripe2sf.engine.alerts import Alerter
from stripe2sf.engine.budget import BudgetGate, is_limit_exceeded
from stripe2sf.engine.handlers import Registry
from stripe2sf.store.inbox import (
    DEAD,
    DEFERRED,
    DONE,
    HELD,
    Applied,
    Failed,
    Finished,
    Inbox,
    Moved,
    StoredEvent,
)

log = structlog.get_logger(__name__)

Answer = Applied | Moved | Failed | None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _error_kind(exc: BaseException) -> str:
    return exc.kind if isinstance(exc, SyncError) else type(exc).__name__


@dataclass
class _Lane:
    name: str
    events: list[StoredEvent]
    jump: bool = False  # urgent events behind a deferred head: a deferral skips, not stops


def _held_back(event: StoredEvent, started: datetime, answer: Answer) -> Finished:
    """An event applied in the same wave as an earlier event of its lane that must be tried
    again: it waits behind that one (no attempt counted; what it wrote is audited, and its
    writes are upserts that its next application repeats unchanged)."""
    kept = answer if isinstance(answer, Applied) else None
    if isinstance(answer, Failed):
        kept = Applied(audit_records=answer.audit_records)
    return Finished(
        event,
        started,
        HELD,
        applied=kept,
        error="held back: an earlier event of its customer is retried first",
        at=started,
    )


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
        batch_lanes: int = 200,
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
        self.batch_lanes = batch_lanes
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._rng = random.Random()
        self.budget = budget
        self._held: dict[str, set[str]] = {}  # owner (thread) -> lanes it holds now
        self._held_lock = threading.Lock()

    # -- one batch ---------------------------------------------------------------------------

    def run_once(self, owner: str | None = None) -> bool:
        """Claim a batch of due lanes and apply their due events; False when nothing was due."""
        owner = owner or self.name
        claims = self.inbox.claim_batch(
            owner, self.clock(), self.lease, self.batch_lanes, self.max_events_per_claim
        )
        if not claims:
            return False
        held = {c.lane for c in claims}
        with self._held_lock:
            self._held[owner] = held
        try:
            with structlog.contextvars.bound_contextvars(batch_id=uuid.uuid4().hex[:12]):
                self._run([_Lane(c.lane, list(c.events)) for c in claims], owner)
                if self.budget is not None and self.budget.tight():  # failed payments go on
                    self._run(self._urgent(owner), owner)
        finally:
            with self._held_lock:
                left = self._held.pop(owner, set())
            if left:
                self.inbox.release_many(left, owner)
        return True

    def renew_held(self) -> list[str]:
        """Extend the lease of every lane this worker's threads hold now; the lanes whose lease
        was already lost. A batch may outlast the lease (a slow Salesforce, a long
        retry-after): without this, another worker would take the lane and apply its events
        at the same time."""
        with self._held_lock:
            held = [(owner, set(lanes)) for owner, lanes in self._held.items()]
        lost: list[str] = []
        for owner, lanes in held:
            kept = self.inbox.renew_many(lanes, owner, self.clock(), self.lease)
            for lane in sorted(lanes - kept):
                lost.append(lane)
                log.warning("lease_lost", worker=owner, lane=lane)
        return lost

    def _holds(self, owner: str) -> set[str]:
        with self._held_lock:
            return set(self._held.get(owner, set()))

    def _let_go(self, owner: str, lanes: set[str]) -> None:
        with self._held_lock:
            self._held.get(owner, set()).difference_update(lanes)

    def _urgent(self, owner: str) -> list[_Lane]:
        """Held lanes whose head the budget deferred: the due events behind it, applied if the
        budget allows them (failed payments); the sync ledger keeps a late write from
        overwriting newer state."""
        out = []
        for lane in sorted(self._holds(owner)):
            behind = self.inbox.behind_deferred_head(lane, self.clock())
            if behind:
                out.append(_Lane(lane, behind, jump=True))
        return out

    def _run(self, lanes: Sequence[_Lane], owner: str) -> None:
        """Apply the lanes' events wave by wave; a lane that stops is given back when its
        wave is recorded (or, when the budget may let urgent events jump its deferred head,
        at the end of the batch)."""
        by_name = {lane.name: lane for lane in lanes}
        stopped: set[str] = set()
        lanes_events = [[(lane.name, e) for e in lane.events] for lane in lanes]
        for wave in waves(lanes_events, lambda item: joins_wave(item[1].type)):
            wave = [(name, e) for name, e in wave if name not in stopped]
            if not wave:
                continue
            finished, stops, deferred = self._wave(wave, by_name, owner)
            stopped |= stops
            last = {name: e for name, e in wave}  # each lane's last event in this wave
            going_on = {
                name
                for name, e in last.items()
                if name not in stops and e is not by_name[name].events[-1]
            }
            release = {name for name, _ in wave if name not in going_on}
            if deferred and self.budget is not None and self.budget.tight():
                release -= deferred  # kept for the urgent events behind the head
            lost = self.inbox.record(owner, self.clock(), self.lease, finished, release)
            self._let_go(owner, release | lost)
            stopped |= lost
            for name in sorted(lost):
                log.warning("lease_lost", worker=owner, lane=name)
            self._report([f for f in finished if f.event.lane not in lost])

    def _wave(
        self,
        wave: Sequence[tuple[str, StoredEvent]],
        lanes: dict[str, _Lane],
        owner: str,
    ) -> tuple[list[Finished], set[str], set[str]]:
        """One wave applied and decided: (outcomes, lanes that stop, lanes deferred)."""
        now = self.clock()
        finished: list[Finished] = []
        stops: set[str] = set()
        deferred: set[str] = set()
        todo: list[StoredEvent] = []
        for name, event in wave:
            if name in stops:
                continue  # a deferred event stops its lane: what follows it waits too
            handler = self.registry.get(event.type)
            if self.budget is not None and handler is not None:
                verdict = self.budget.check(event.type, lambda e=event: e.source)  # type: ignore[misc]
                if isinstance(verdict, Defer):
                    if lanes[name].jump:
                        continue  # the next urgent event of the lane may go
                    until = now + timedelta(seconds=verdict.seconds)
                    finished.append(Finished(event, now, DEFERRED, error=verdict.reason, at=until))
                    stops.add(name)
                    deferred.add(name)
                    continue
            todo.append(event)
        answers = self._apply(todo)
        for event, answer in zip(todo, answers, strict=True):
            if event.lane in stops:
                finished.append(_held_back(event, now, answer))
                continue
            finished.append(self._decide(event, now, answer, stops, deferred))
        return finished, stops, deferred

    def _apply(self, events: Sequence[StoredEvent]) -> list[Answer]:
        """Each event's answer: a batch handler gets its events at once, others one by one."""
        answers: dict[int, Answer] = {}
        groups: dict[int, list[int]] = {}
        for i, event in enumerate(events):
            handler = self.registry.get(event.type)
            if handler is None:
                answers[i] = None
            elif hasattr(handler, "apply_batch"):
                groups.setdefault(id(handler), []).append(i)
            else:
                try:
                    answers[i] = handler(event)
                except Exception as exc:
                    answers[i] = Failed(exc)
        for indexes in groups.values():
            handler = self.registry.get(events[indexes[0]].type)
            try:
                found = handler.apply_batch([events[i] for i in indexes])  # type: ignore[union-attr]
            except Exception as exc:  # an unexpected error: every event of the group waits
                found = [Failed(exc)] * len(indexes)
            answers.update(zip(indexes, found, strict=True))
        return [answers[i] for i in range(len(events))]

    def _decide(
        self,
        event: StoredEvent,
        started: datetime,
        answer: Answer,
        stops: set[str],
        deferred: set[str],
    ) -> Finished:
        if isinstance(answer, Moved):
            return Finished(event, started, "moved", lane_to=answer.lane)
        if not isinstance(answer, Failed):
            return Finished(event, started, DONE, applied=answer)
        now = self.clock()
        exc = answer.error
        kept = Applied(audit_records=answer.audit_records)
        if self.budget is not None and is_limit_exceeded(exc):
            stops.add(event.lane)
            deferred.add(event.lane)
            until = now + timedelta(seconds=self.budget.limit_exceeded())
            return Finished(event, started, DEFERRED, applied=kept, error=str(exc), at=until)
        kind = _error_kind(exc)
        decision = decide(
            attempt=event.attempts + 1,
            error=exc,
            first_seen=event.received_at,
            now=now,
            policy=self.policy,
            rng=self._rng,
        )
        if isinstance(decision, DeadLetter):  # the lane goes on
            return Finished(event, started, DEAD, applied=kept, error=decision.reason, kind=kind)
        stops.add(event.lane)  # the lane waits for the retry
        return Finished(
            event, started, "retry", applied=kept, error=decision.reason, kind=kind, at=decision.at
        )

    def _report(self, finished: Sequence[Finished]) -> None:
        """Logs, metrics and alerts of what was recorded."""
        for f in finished:
            event = f.event
            bound = log.bind(event_id=event.event_id, event_type=event.type, customer_id=event.lane)
            if f.outcome == DONE:
                bound.info("event_applied", attempt=event.attempts + 1)
                metrics.event_outcome(event.type, "done")
                metrics.synced(event.type, event.received_at, self.clock())
            elif f.outcome == "moved":
                bound.info("event_moved", lane=f.lane_to)
            elif f.outcome == DEFERRED:
                metrics.event_outcome(event.type, "deferred")
                bound.info(
                    "event_deferred", until=f.at.isoformat() if f.at else None, reason=f.error
                )
            elif f.outcome == HELD:
                bound.info("event_held_back", reason=f.error)
            elif f.outcome == DEAD:
                bound.error("event_dead_lettered", reason=f.error, error_kind=f.kind)
                metrics.event_outcome(event.type, "dead")
                if self.alerter is not None:
                    self.alerter.notify(
                        f"dead_letter:{f.kind}",
                        f"Event {event.event_id} ({event.type}) moved to the dead letters",
                        f"Reason: {f.error}\nKind: {f.kind}\nLane: {event.lane}\n"
                        f"Attempts: {event.attempts + 1}\n"
                        f"{fix_for(f.kind)}, then: stripe2sf replay {event.event_id}",
                    )
            else:
                at = f.at.isoformat() if f.at else None
                bound.warning("event_retry_scheduled", at=at, error_kind=f.kind)
                metrics.event_outcome(event.type, "retry")
                metrics.retried(f.kind or "unknown")

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
