"""Catch-up: list the Stripe events created since the last completed round and store every
one that never arrived as a webhook.

    report = catch_up(inbox, reader, registry)      # raises CatchUpFailed, resumable

Each event is stored exactly as Stripe sent it: the JSON of the list answer, never the SDK's
objects (those hold Decimals for every `*_decimal` field and are not what a webhook carries).
A page that fails for a transient reason (5xx, 429, network) is retried with backoff; when
Stripe keeps failing, the round stops with its cursor saved and the next round resumes there
(see `domain.backfill.catchup` for the window and the resume rules).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from stripe2sf.domain.backfill.catchup import Checkpoint, plan_round
from stripe2sf.domain.backfill.plan import stripe_retry_delay
from stripe2sf.domain.batch.retry import is_transient
from stripe2sf.domain.errors import PermanentError, RateLimitedError, SyncError
from stripe2sf.engine.handlers import Registry
from stripe2sf.store.catchup_state import CatchUpState
from stripe2sf.store.inbox import Inbox, NewEvent
from stripe2sf.stripe.reader import StripeReader
from stripe2sf.web.intake import to_new_event

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CatchUpReport:
    listed: int
    added: int
    warning: str | None
    needs_backfill: bool
    resumed: bool = False
    since: datetime | None = None
    until: datetime | None = None


class CatchUpFailed(SyncError):
    """A round stopped before its end. What it stored is kept and its cursor saved: the next
    round resumes there. `checkpoint` is the state after the failure (failures in a row)."""

    def __init__(
        self, message: str, *, kind: str, listed: int, added: int, checkpoint: Checkpoint
    ) -> None:
        super().__init__(message, kind=kind)
        self.listed = listed
        self.added = added
        self.checkpoint = checkpoint


class _Stopped(Exception):
    """The process is shutting down; the round resumes next time."""


def stored_body(doc: Mapping[str, Any]) -> str:
    """The event's JSON as Stripe sent it (values untouched: decimals stay Stripe's strings)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def catch_up(
    inbox: Inbox,
    reader: StripeReader,
    registry: Registry,
    *,
    state: CatchUpState | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], object] = time.sleep,
    stop: threading.Event | None = None,
    on_page: Callable[[int, int], None] | None = None,
) -> CatchUpReport:
    """One round: resume the unfinished one or list from the last completed round's end.

    `on_page(listed, added)` is called after each stored page (progress); `stop` ends the
    round between pages and during backoff waits (it resumes next time)."""
    state = state or CatchUpState(inbox.engine)
    now = now or datetime.now(UTC)
    checkpoint = state.load()
    first = checkpoint.listed_until is None and checkpoint.unfinished is None
    plan = plan_round(checkpoint, state.oldest_created() if first else None, now)
    if not plan.resumed:
        state.begin(plan, now)
    started = plan
    listed = added = 0
    fell_back = False
    try:
        while not plan.empty:
            if stop is not None and stop.is_set():
                raise _Stopped("stopped")
            try:
                page, has_more = _fetch(reader, plan.params(), sleep, stop)
            except PermanentError as exc:
                # Stripe refused the cursor (it no longer knows that event): go on by timestamp
                fallback = None if fell_back else plan.by_timestamp()
                if fallback is None or exc.kind != "stripe.invalid_request":
                    raise
                plan, fell_back = fallback, True
                continue
            if not page:
                # an empty page after a cursor: Stripe may have answered 404 for the cursor
                fallback = None if fell_back else plan.by_timestamp()
                if fallback is None:
                    break
                plan, fell_back = fallback, True
                continue
            batch = [_new_event(doc, registry) for doc in page if isinstance(doc, Mapping)]
            added += sum(inbox.add_many(batch, datetime.now(UTC)))
            listed += len(page)
            last = page[-1]
            plan = plan.after(str(last["id"]), datetime.fromtimestamp(int(last["created"]), UTC))
            state.advance(plan, datetime.now(UTC))
            if on_page is not None:
                on_page(listed, added)
            if not has_more:
                break
    except Exception as exc:
        resumes = f" after {plan.starting_after}" if plan.starting_after else ""
        stopped = isinstance(exc, _Stopped)
        reason = "stopped" if stopped else f"{type(exc).__name__}: {exc}"
        after = state.failed(reason, datetime.now(UTC)) if not stopped else state.load()
        raise CatchUpFailed(
            f"catch-up stopped after listing {listed} Stripe events ({added} new, stored): "
            f"{reason}. The next round resumes{resumes} where this one stopped.",
            kind=getattr(exc, "kind", "catchup.stopped" if stopped else "catchup.error"),
            listed=listed,
            added=added,
            checkpoint=after,
        ) from exc
    state.complete(plan, datetime.now(UTC))
    return CatchUpReport(
        listed,
        added,
        started.warning,
        started.needs_backfill,
        started.resumed,
        started.since,
        started.until,
    )


def _new_event(doc: Mapping[str, Any], registry: Registry) -> NewEvent:
    event = dict(doc)
    return to_new_event(event, stored_body(event), registry.handles(event["type"]), "catchup")


def _fetch(
    reader: StripeReader,
    params: Mapping[str, Any],
    sleep: Callable[[float], object],
    stop: threading.Event | None,
) -> tuple[list[dict[str, Any]], bool]:
    """One page; transient failures (5xx, 429, network) retried with backoff, Stripe's
    Retry-After honoured; after the last retry the error goes up (the round stops)."""
    attempt = 0
    while True:
        try:
            return reader.list_page("events", params)
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempt += 1
            retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
            delay = stripe_retry_delay(attempt, retry_after)
            if delay is None:
                raise
            log.info("catchup_retry", attempt=attempt, delay=delay, error=str(exc))
            sleep(delay)
            if stop is not None and stop.is_set():
                raise _Stopped("stopped") from exc
