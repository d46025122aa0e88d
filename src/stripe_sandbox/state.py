"""The sandbox's state: storage, lock, clocks, settings, and the unit of work (``Tx``) that
every change runs in. Events emitted in a ``Tx`` are stored with it and queued for delivery
when it commits."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stripe_sandbox import ids, rendering, shapes
from stripe_sandbox.errors import missing
from stripe_sandbox.settings import Faults, Settings
from stripe_sandbox.store import Record, Store
from stripe_sandbox.versions import previous_attributes

Obj = dict[str, Any]

KIND_NAMES = {
    "customer": "customer",
    "payment_method": "PaymentMethod",
    "payment_intent": "payment_intent",
    "setup_intent": "setup_intent",
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "product": "product",
    "price": "price",
    "subscription": "subscription",
    "subscription_item": "subscription_item",
    "invoice": "invoice",
    "invoiceitem": "invoiceitem",
    "test_helpers.test_clock": "test_clock",
    "webhook_endpoint": "webhook_endpoint",
    "invoice_payment": "invoice_payment",
}


@dataclass
class RequestInfo:
    id: str | None = None
    idempotency_key: str | None = None


class Sandbox:
    def __init__(self, path: str = ":memory:", settings: Settings | None = None) -> None:
        self.store = Store(path)
        self.lock = threading.RLock()
        self.settings = settings or Settings()
        self.faults = Faults()
        self.time_offset = 0.0
        self._local = threading.local()
        self.on_commit: list[Callable[[list[Obj]], None]] = []
        self.on_due: list[Callable[[], None]] = []

    def wall_time(self) -> float:
        return time.time() + self.time_offset

    def wall_now(self) -> int:
        return int(self.wall_time())

    @contextmanager
    def tx(self, request: RequestInfo | None = None) -> Iterator[Tx]:
        current: Tx | None = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with self.lock:
            tx = Tx(self, request or RequestInfo())
            self._local.tx = tx
            try:
                with self.store.transaction():
                    yield tx
            finally:
                self._local.tx = None
        if tx.events:
            for callback in self.on_commit:
                callback(tx.events)
        if tx.schedule_changed:
            for wake in self.on_due:
                wake()

    def reset(self) -> None:
        with self.lock:
            self.store.reset()
            self.time_offset = 0.0


class Tx:
    """One unit of work: reads and writes, plus the events they cause."""

    def __init__(self, sandbox: Sandbox, request: RequestInfo) -> None:
        self.sb = sandbox
        self.store = sandbox.store
        self.request = request
        self.events: list[Obj] = []
        self.schedule_changed = False
        self._endpoints: list[Obj] | None = None
        self._clock_cache: dict[str, int] = {}
        # set while the scheduler replays overdue wall-clock work at its due time
        self.wall_override: int | None = None

    # ---- time ----------------------------------------------------------------------------
    def now(self, clock: str | None = None) -> int:
        if clock is None:
            return self.wall_override if self.wall_override is not None else self.sb.wall_now()
        if clock not in self._clock_cache:
            rec = self.store.get(clock)
            self._clock_cache[clock] = int(rec.data["frozen_time"]) if rec else self.sb.wall_now()
        return self._clock_cache[clock]

    def set_clock_time(self, clock: str, frozen_time: int) -> None:
        self._clock_cache[clock] = frozen_time

    # ---- objects -------------------------------------------------------------------------
    def get(self, object_type: str, object_id: Any, param: str = "id") -> Record:
        if not isinstance(object_id, str) or not object_id:
            raise missing(KIND_NAMES.get(object_type, object_type), str(object_id), param)
        rec = self.store.get(object_id, object_type)
        if rec is None:
            raise missing(KIND_NAMES.get(object_type, object_type), object_id, param)
        return rec

    def find(self, object_type: str, object_id: str) -> Record | None:
        return self.store.get(object_id, object_type)

    def save(self, rec: Record) -> None:
        if rec.due_at is not None:
            self.schedule_changed = True
        self.store.put(rec)

    def new_record(
        self,
        object_type: str,
        data: Obj,
        *,
        customer: str | None = None,
        parent: str | None = None,
        clock: str | None = None,
        meta: Obj | None = None,
    ) -> Record:
        rec = Record(
            data["id"],
            object_type,
            data,
            meta or {},
            customer=customer,
            parent=parent,
            clock=clock,
        )
        self.store.put(rec)
        return rec

    # ---- events --------------------------------------------------------------------------
    def endpoints(self) -> list[Obj]:
        if self._endpoints is None:
            self._endpoints = [
                r.data
                for r in self.store.find("webhook_endpoint")
                if r.data.get("status") == "enabled"
            ]
        return self._endpoints

    def invalidate_endpoints(self) -> None:
        self._endpoints = None

    def emit(
        self,
        event_type: str,
        obj: Obj,
        previous: Obj | None = None,
        *,
        automatic: bool = False,
    ) -> Obj:
        """Record an event; ``automatic`` events (billing, clocks) carry no request id."""
        targets = [e for e in self.endpoints() if matches(e["enabled_events"], event_type)]
        req = RequestInfo() if automatic else self.request
        event = shapes.event(
            ids.id_for("event"),
            self.sb.wall_now(),
            event_type,
            copy.deepcopy(obj),
            copy.deepcopy(previous) if previous is not None else None,
            req.id,
            req.idempotency_key,
            len(targets),
        )
        default_version = self.sb.settings.api_version
        event["api_version"] = default_version
        in_use = rendering.versions_in_use(default_version, self.endpoints())
        facts = rendering.event_facts(self.store, event["data"]["object"], previous, in_use)
        self.store.put_event(event)
        if facts:
            self.store.put_event_facts(event["id"], facts)
        self.events.append(event)
        return event

    def emit_update(self, event_type: str, before: Obj, after: Obj, **kw: Any) -> Obj | None:
        """``*.updated`` with ``previous_attributes``; nothing when nothing changed."""
        prev = previous_attributes(before, after)
        if not prev:
            return None
        return self.emit(event_type, after, prev, **kw)


def matches(enabled: list[str], event_type: str) -> bool:
    return "*" in enabled or event_type in enabled
