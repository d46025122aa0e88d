"""Catch-up inside `serve`: every few minutes, list the Stripe events created since the last
completed round and queue every one that never arrived as a webhook (dropped, endpoint down,
disabled).

    thread = start_catchup(runtime, stop)        # in the app's lifespan; stops with `stop`

The interval is `STRIPE2SF_CATCHUP_SECONDS` (default 300; 0 turns it off). A page that fails
for a transient reason is retried with backoff inside the round; a round that still fails is
logged, keeps its cursor and resumes at the next tick. When rounds keep failing the
administrator is alerted (and told when a round completes again); how far back catch-up must
reach is watched by the monitor (`catchup_window`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import structlog

from stripe2sf.domain.backfill.catchup import Checkpoint, keeps_failing
from stripe2sf.engine.catchup import CatchUpFailed, CatchUpReport, catch_up
from stripe2sf.runtime import Runtime

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL = 300.0


def interval_from_env() -> float:
    raw = os.environ.get("STRIPE2SF_CATCHUP_SECONDS", "")
    try:
        return float(raw) if raw.strip() else DEFAULT_INTERVAL
    except ValueError:
        log.warning("catchup_interval_invalid", value=raw, used=DEFAULT_INTERVAL)
        return DEFAULT_INTERVAL


def catch_up_once(
    runtime: Runtime,
    stop: threading.Event | None = None,
    sleep: Callable[[float], object] | None = None,
) -> CatchUpReport | None:
    """One round with its alerts; raises CatchUpFailed when it stops before its end."""
    reader = runtime.stripe_reader()
    if reader is None:
        return None
    wait = sleep or (stop.wait if stop is not None else time.sleep)
    try:
        report = catch_up(runtime.inbox, reader, runtime.registry, stop=stop, sleep=wait)
    except CatchUpFailed as exc:
        if exc.kind != "catchup.stopped":
            _alert_failing(runtime, exc.checkpoint)
        raise
    _alert_failing(runtime, Checkpoint())
    if report.added or report.warning:
        log.info(
            "catchup_round",
            listed=report.listed,
            added=report.added,
            resumed=report.resumed,
            warning=report.warning,
            needs_backfill=report.needs_backfill,
        )
    return report


def _alert_failing(runtime: Runtime, checkpoint: Checkpoint) -> None:
    """Alert while rounds keep failing; the recovery message when one completes again."""
    runtime.alerter.condition(
        "catchup_failing",
        keeps_failing(checkpoint),
        f"Catch-up has failed {checkpoint.failures} rounds in a row",
        f"Last error: {checkpoint.last_error}\n"
        "Events Stripe could not deliver are not being recovered while this lasts. Each round "
        "resumes where the last one stopped; check Stripe's status, STRIPE_API_KEY and the "
        "network, or run `stripe2sf catch-up` to see the error.",
        recovered="catch-up rounds complete again",
    )


def run_catchup(runtime: Runtime, stop: threading.Event, interval: float) -> None:
    """A round every `interval` seconds, the first one an interval after start (a webhook
    delivered meanwhile is not listed twice; the inbox ignores repeats anyway)."""
    while not stop.wait(interval):
        try:
            catch_up_once(runtime, stop)
        except CatchUpFailed as exc:
            log.warning("catchup_failed", error=str(exc), kind=exc.kind)
        except Exception as exc:  # keep the loop alive (database down): the next tick tries again
            log.warning("catchup_failed", error=str(exc), kind=getattr(exc, "kind", None))


def start_catchup(
    runtime: Runtime, stop: threading.Event, interval: float | None = None
) -> threading.Thread | None:
    """Start the catch-up loop in a daemon thread (None when off or Stripe not configured)."""
    every = interval_from_env() if interval is None else interval
    if every <= 0 or runtime.stripe_reader() is None:
        return None
    thread = threading.Thread(
        target=run_catchup, args=(runtime, stop, every), name="catchup", daemon=True
    )
    thread.start()
    return thread
