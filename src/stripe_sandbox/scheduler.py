"""Runs what falls due: renewals, trial ends, invoice finalization and payment retries on
the wall clock, and test-clock advances. One background thread; every step is one ``Tx``."""

from __future__ import annotations

import logging
import threading

from stripe_sandbox.models import invoices, subscriptions
from stripe_sandbox.state import Sandbox, Tx
from stripe_sandbox.store import Record

log = logging.getLogger("stripe_sandbox.scheduler")


def process_record(tx: Tx, rec: Record) -> None:
    if rec.type == "subscription":
        subscriptions.process_due(tx, rec)
    elif rec.type == "invoice":
        invoices.process_due(tx, rec)
    else:
        rec.due_at = None
        tx.save(rec)


def process_due_on(tx: Tx, clock: str | None, now: int) -> None:
    """Everything due at or before ``now`` on ``clock``, oldest first."""
    for _ in range(10_000):
        due = [r for r in tx.store.due({clock: now}) if r.type != "test_helpers.test_clock"]
        if not due:
            return
        first = due[0]
        fresh = tx.store.get(first.id)
        if fresh is None:
            continue
        process_record(tx, fresh)


def run_advance(tx: Tx, rec: Record) -> bool:
    """Process one due object on the clock; returns True when the clock is ready."""
    target = int(rec.meta["target"])
    nxt = tx.store.next_due(rec.id)
    if nxt is not None and nxt <= target:
        rec.data["frozen_time"] = max(int(rec.data["frozen_time"]), nxt)
        tx.set_clock_time(rec.id, int(rec.data["frozen_time"]))
        tx.save(rec)
        process_due_on(tx, rec.id, int(rec.data["frozen_time"]))
        return False
    rec.data.update(frozen_time=target, status="ready", status_details={})
    tx.set_clock_time(rec.id, target)
    rec.meta.pop("target", None)
    rec.due_at = None
    tx.save(rec)
    tx.emit("test_helpers.test_clock.ready", rec.data, automatic=True)
    return True


class Scheduler:
    def __init__(self, sandbox: Sandbox, interval: float = 0.5) -> None:
        self.sb = sandbox
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        sandbox.on_due.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="stripe-sandbox-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.tick()
            except Exception:  # keep the sandbox alive; the failure is logged
                log.exception("scheduler step failed")
                busy = False
            if not busy:
                self._wake.wait(self.interval)
                self._wake.clear()

    def tick(self) -> bool:
        """One step; returns True when more work may be waiting."""
        with self.sb.tx() as tx:
            advancing = [
                r
                for r in tx.store.find("test_helpers.test_clock")
                if r.data["status"] == "advancing"
            ]
            for rec in advancing:
                run_advance(tx, rec)
                return True
            now = tx.now()
            due = tx.store.due({None: now})
            due = [r for r in due if r.type != "test_helpers.test_clock"]
            if due:
                # overdue work (e.g. after POST /_sandbox/time) runs at the time it fell due,
                # as on a test clock, so that what it creates falls due in turn
                tx.wall_override = min(now, max(int(due[0].due_at or 0), 0))
                try:
                    process_record(tx, due[0])
                finally:
                    tx.wall_override = None
                return True
            self._purge(tx)
        return False

    def _purge(self, tx: Tx) -> None:
        retention = self.sb.settings.event_retention_days * 86400
        tx.store.purge_events(tx.now() - retention - 86400)
