"""The control plane under ``/_sandbox/`` (no Stripe client uses it): reset, seed, settings,
webhook faults, the deliveries log, time offset, and waiting until background work settles.
Bodies and answers are JSON."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stripe_sandbox import seed
from stripe_sandbox.api import Api
from stripe_sandbox.delivery import Deliverer, delivery_log
from stripe_sandbox.errors import StripeError, error_body, missing
from stripe_sandbox.scheduler import Scheduler
from stripe_sandbox.settings import Faults
from stripe_sandbox.shapes import API_VERSION
from stripe_sandbox.state import Sandbox


class RunningSandbox(Protocol):
    """What the control plane works on: the running sandbox's state, its API (for the request
    counts) and its background workers. ``app.SandboxApp`` is one."""

    sandbox: Sandbox
    api: Api
    scheduler: Scheduler
    deliverer: Deliverer


Handler = Callable[[RunningSandbox, dict[str, Any], dict[str, str]], Any]


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("body must be a JSON object")
    return value


def _wrap(app: RunningSandbox, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            body = _json_body(await request.body())
        except ValueError as exc:
            return JSONResponse(
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Invalid JSON body: {exc}",
                    }
                },
                400,
            )
        query = dict(request.query_params)
        query.update(request.path_params)
        try:
            result = await run_in_threadpool(handler, app, body, query)
        except StripeError as exc:
            return JSONResponse(error_body(exc), exc.status)
        return JSONResponse(result)

    return endpoint


def reset(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    app.sandbox.reset()
    app.api.request_counts.clear()
    app.api.version_counts.clear()
    app.sandbox.faults = Faults()
    return {"reset": True}


def do_seed(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    options = seed.SeedOptions.from_dict(body)
    return seed.seed(app.sandbox, options).as_dict()


def get_settings(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    return app.sandbox.settings.as_dict()


def set_settings(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    app.sandbox.settings.update(body)
    return app.sandbox.settings.as_dict()


def get_faults(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    return app.sandbox.faults.as_dict()


def set_faults(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    app.sandbox.faults.update(body)
    return app.sandbox.faults.as_dict()


def clear_faults(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Every fault off (webhook and API), data kept."""
    app.sandbox.faults = Faults()
    return app.sandbox.faults.as_dict()


def deliveries(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"data": delivery_log(app.sandbox, query)}


def retry_deliveries(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {"rescheduled": app.deliverer.retry_now()}


def set_time(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    """``{"offset_seconds": N}`` sets, ``{"advance_seconds": N}`` adds to, the wall-clock
    offset used for objects outside test clocks (and for event retention)."""
    sb = app.sandbox
    with sb.lock:
        if "offset_seconds" in body:
            sb.time_offset = float(body["offset_seconds"])
        if "advance_seconds" in body:
            sb.time_offset += float(body["advance_seconds"])
    app.scheduler.wake()
    return {"offset_seconds": sb.time_offset, "now": sb.wall_now()}


def webhook_secret(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    with app.sandbox.lock:
        rec = app.sandbox.store.get(query["id"], "webhook_endpoint")
    if rec is None:
        raise missing("webhook_endpoint", query["id"])
    return {"id": rec.id, "secret": rec.meta["secret"]}


def stats(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    sb = app.sandbox
    with sb.lock:
        counts = dict(
            sb.store.conn.execute("SELECT type, COUNT(*) FROM objects GROUP BY type").fetchall()
        )
        events = sb.store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        dl = dict(
            sb.store.conn.execute(
                "SELECT status, COUNT(*) FROM deliveries GROUP BY status"
            ).fetchall()
        )
    return {
        "api_version": API_VERSION,
        "default_api_version": sb.settings.api_version,
        "objects": counts,
        "events": events,
        "deliveries": dl,
        "requests": dict(app.api.request_counts),
        "requests_by_version": dict(app.api.version_counts),
    }


def _busy(app: RunningSandbox) -> bool:
    sb = app.sandbox
    now = time.time()
    with sb.lock:
        advancing = sb.store.conn.execute(
            "SELECT COUNT(*) FROM objects WHERE type='test_helpers.test_clock'"
            " AND json_extract(data, '$.status') = 'advancing'"
        ).fetchone()[0]
        due = sb.store.conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE status='pending' AND next_attempt_at <= ?",
            (now + 0.05,),
        ).fetchone()[0]
        wall_due = sb.store.conn.execute(
            "SELECT COUNT(*) FROM objects WHERE due_at IS NOT NULL AND clock IS NULL"
            " AND due_at <= ? AND type != 'test_helpers.test_clock'",
            (sb.wall_now(),),
        ).fetchone()[0]
    return bool(advancing or due or wall_due)


def wait_idle(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    """Block until no clock is advancing, nothing is due, and no delivery is due now
    (deliveries waiting for a later retry do not count). ``timeout`` seconds, default 10."""
    timeout = float(body.get("timeout") or query.get("timeout") or 10)
    deadline = time.time() + timeout
    quiet = 0
    while time.time() < deadline:
        if _busy(app):
            quiet = 0
            app.scheduler.wake()
        else:
            quiet += 1
            if quiet >= 3:
                return {"idle": True}
        time.sleep(0.02)
    return {"idle": False}


def health(app: RunningSandbox, body: dict[str, Any], query: dict[str, str]) -> Any:
    return {
        "ok": True,
        "api_version": API_VERSION,
        "default_api_version": app.sandbox.settings.api_version,
        # which process answers: a launcher tells its own sandbox from another on the port
        "pid": os.getpid(),
    }


def routes(app: RunningSandbox) -> list[Route]:
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/_sandbox/health", health),
        ("POST", "/_sandbox/reset", reset),
        ("POST", "/_sandbox/seed", do_seed),
        ("GET", "/_sandbox/settings", get_settings),
        ("POST", "/_sandbox/settings", set_settings),
        ("GET", "/_sandbox/faults", get_faults),
        ("POST", "/_sandbox/faults", set_faults),
        ("DELETE", "/_sandbox/faults", clear_faults),
        ("GET", "/_sandbox/deliveries", deliveries),
        ("POST", "/_sandbox/deliveries/retry", retry_deliveries),
        ("POST", "/_sandbox/time", set_time),
        ("GET", "/_sandbox/stats", stats),
        ("POST", "/_sandbox/wait_idle", wait_idle),
        ("GET", "/_sandbox/webhook_endpoints/{id}/secret", webhook_secret),
    ]
    return [Route(path, _wrap(app, fn), methods=[method]) for method, path, fn in table]
