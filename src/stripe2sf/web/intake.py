"""From a verified webhook body to an inbox row: what counts as a Stripe event; and the
intake's tally of accepted and refused deliveries (`IntakeTally`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from stripe2sf.domain.batch.lanes import lane_key
from stripe2sf.domain.intake_health import ACCEPTED, REFUSED, minute_of
from stripe2sf.store.inbox import NewEvent
from stripe2sf.store.intake_health import IntakeHealthStore

log = structlog.get_logger(__name__)


class NotAnEvent(ValueError):
    """The body is not a Stripe event; the message says what is wrong."""


def parse_event(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotAnEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise NotAnEvent("body is not a JSON object")
    if doc.get("object") != "event":
        raise NotAnEvent('"object" must be "event"')
    event_id = doc.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_") or len(event_id) > 255:
        raise NotAnEvent('"id" must be an event id such as evt_123')
    if not isinstance(doc.get("type"), str) or not doc["type"]:
        raise NotAnEvent('"type" must be an event type such as charge.succeeded')
    if not isinstance(doc.get("created"), int) or isinstance(doc.get("created"), bool):
        raise NotAnEvent('"created" must be a Unix timestamp')
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise NotAnEvent('"data.object" must be an object')
    return doc


def to_new_event(
    doc: dict[str, Any],
    body: str,
    handled: bool,
    source: str,
    refused: str | None = None,
    *,
    refused_kind: str = "refused",
) -> NewEvent:
    """The inbox row for a parsed event; `refused` (see `domain.flows.integrity`) stores it as
    refused, with that reason and `refused_kind` as its error kind, instead of pending."""
    return NewEvent(
        event_id=doc["id"],
        type=doc["type"],
        lane=lane_key(doc),
        created=doc["created"],
        livemode=bool(doc.get("livemode", False)),
        api_version=doc.get("api_version") if isinstance(doc.get("api_version"), str) else None,
        payload_text=body,
        handled=handled,
        source=source,
        refused=refused,
        refused_kind=refused_kind,
    )


class IntakeTally:
    """Counts deliveries by outcome and reason in memory (a dict update under a lock: the
    intake answers hundreds of requests a second) and adds them to the shared buckets
    (`store.intake_health`) every `interval` seconds from a thread, and on `flush()`.

    A flush that fails (database down) keeps its counts for the next one."""

    def __init__(
        self,
        store: IntakeHealthStore,
        interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str, str], tuple[int, datetime]] = {}
        self._flush_lock = threading.Lock()

    def accepted(self, reason: str) -> None:
        self._add(ACCEPTED, reason)

    def refused(self, reason: str, client: str | None, detail: str) -> None:
        """Count a refused delivery and log it with the address it came from."""
        # a fresh logger each time: refused deliveries are few, and the logging set up when
        # this line runs (a test's capture too) is the one used
        structlog.get_logger(__name__).warning(
            "webhook_refused", reason=reason, detail=detail, client=client or "unknown"
        )
        self._add(REFUSED, reason)

    def refused_quietly(self, reason: str) -> None:
        """Count a refused delivery already logged by the caller."""
        self._add(REFUSED, reason)

    def _add(self, outcome: str, reason: str) -> None:
        now = self.clock()
        key = (minute_of(now), outcome, reason)
        with self._lock:
            at = datetime.fromtimestamp(now, UTC)
            count, _ = self._pending.get(key, (0, at))
            self._pending[key] = (count + 1, at)

    def flush(self) -> None:
        """Write what was counted since the last flush."""
        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, {}
            if not taken:
                return
            try:
                self.store.add(taken, datetime.now(UTC))
            except Exception as exc:  # keep the counts; the next flush tries again
                log.error("intake_health_flush_failed", error=str(exc))
                with self._lock:
                    for key, (count, at) in taken.items():
                        more, later = self._pending.get(key, (0, at))
                        self._pending[key] = (count + more, max(at, later))

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.flush()
        self.flush()

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="intake-tally", daemon=True)
        thread.start()
        return thread
