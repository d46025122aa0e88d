"""Catch-up inside `serve`: every few minutes, list the Stripe events since the newest one we
have and queue every one that never arrived as a webhook (dropped, endpoint down, disabled).

    thread = start_catchup(runtime, stop)        # in the app's lifespan; stops with `stop`

The interval is `STRIPE2SF_CATCHUP_SECONDS` (default 300; 0 turns it off). A failed round
(Stripe unreachable, rate limited) is logged and tried again at the next tick.
"""

from __future__ import annotations

import os
import threading

import structlog

from stripe2sf.engine.catchup import CatchUpReport, catch_up
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


def catch_up_once(runtime: Runtime) -> CatchUpReport | None:
    reader = runtime.stripe_reader()
    if reader is None:
        return None
    report = catch_up(runtime.inbox, reader, runtime.registry)
    if report.added or report.warning:
        log.info(
            "catchup_round",
            listed=report.listed,
            added=report.added,
            warning=report.warning,
            needs_backfill=report.needs_backfill,
        )
    return report


def run_catchup(runtime: Runtime, stop: threading.Event, interval: float) -> None:
    """A round every `interval` seconds, the first one an interval after start (a webhook
    delivered meanwhile is not listed twice; the inbox ignores repeats anyway)."""
    while not stop.wait(interval):
        try:
            catch_up_once(runtime)
        except Exception as exc:  # keep the loop alive: the next tick tries again
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
