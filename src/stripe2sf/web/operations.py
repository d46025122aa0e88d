"""Operations endpoints mounted on the app: `/metrics` and the dashboard; the alert monitor."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from stripe2sf import metrics
from stripe2sf.engine.monitor import Monitor
from stripe2sf.runtime import Runtime
from stripe2sf.store.reports import Reports
from stripe2sf.web.dashboard import pages


def state_collector(runtime: Runtime) -> metrics.StateCollector:
    def lag() -> float:
        oldest = runtime.inbox.oldest_pending_received()
        return (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0

    return metrics.StateCollector(
        runtime.inbox.counts, lag, runtime.salesforce_usage, runtime.stripe_calls
    )


def mount_operations(app: FastAPI, runtime: Runtime) -> None:
    """`/metrics` (Prometheus text format) and the dashboard at `/`."""
    collector = state_collector(runtime)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        body = await run_in_threadpool(metrics.render, collector)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    pages.mount(app, runtime)


def start_monitor(
    runtime: Runtime, stop: threading.Event, interval: float = 30.0
) -> threading.Thread:
    """Run the alert monitor in a daemon thread until `stop` is set."""
    monitor = Monitor(
        runtime.settings,
        runtime.alerter,
        Reports(runtime.engine),
        runtime.inbox,
        runtime.salesforce_usage,
    )
    thread = threading.Thread(
        target=monitor.run, args=(stop, interval), name="monitor", daemon=True
    )
    thread.start()
    return thread
