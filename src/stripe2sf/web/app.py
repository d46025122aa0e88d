"""The ASGI app of `stripe2sf serve`: webhook intake, health, and (optionally) the worker."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from stripe2sf import metrics
from stripe2sf.domain.flows.integrity import LIVEMODE_REFUSED, livemode_refusal
from stripe2sf.domain.intake_health import NOT_AN_EVENT, STORE_FAILED, TOO_LARGE, signature_reason
from stripe2sf.engine.catchup_loop import start_catchup
from stripe2sf.runtime import Runtime
from stripe2sf.store.db import ping
from stripe2sf.store.intake_health import IntakeHealthStore
from stripe2sf.stripe.signature import SignatureRefused, verify
from stripe2sf.web.group_commit import GroupCommitter
from stripe2sf.web.intake import IntakeTally, NotAnEvent, parse_event, to_new_event
from stripe2sf.web.operations import mount_operations, start_monitor

MAX_BODY_BYTES = 1024 * 1024

log = structlog.get_logger(__name__)


class BodyTooLarge(Exception):
    pass


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def create_app(runtime: Runtime, run_worker: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        committer.start()
        stop = threading.Event()
        thread: threading.Thread | None = None
        if run_worker:
            worker = runtime.worker()
            thread = threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)
            thread.start()
        start_monitor(runtime, stop)
        start_catchup(runtime, stop)
        if runtime.settings.capture != "off":  # Salesforce changes into the inbox (Step 12)
            from stripe2sf.engine.capture import start_capture

            start_capture(runtime.settings, runtime.inbox, runtime.registry.handles, stop)
        tally_thread = tally.start(stop)
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)
            committer.stop()
            tally_thread.join(timeout=30)

    committer = GroupCommitter(runtime.inbox)
    tally = IntakeTally(IntakeHealthStore(runtime.engine))  # accepted/refused, for the overview
    app = FastAPI(title="stripe2sf", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.state.intake_tally = tally
    settings = runtime.settings

    @app.post("/webhooks/stripe")
    async def stripe_webhook(request: Request) -> JSONResponse:
        client = request.client.host if request.client else None
        try:
            body = await _read_limited(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            tally.refused(TOO_LARGE, client, f"body larger than {MAX_BODY_BYTES} bytes")
            metrics.webhook("too_large")
            return _refuse(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            verify(
                body,
                request.headers.get("stripe-signature"),
                settings.stripe_webhook_secrets,
                settings.webhook_tolerance_seconds,
            )
        except SignatureRefused as exc:
            tally.refused(signature_reason(str(exc)), client, str(exc))
            metrics.webhook("bad_signature")
            return _refuse(400, f"signature refused: {exc}")
        try:
            doc = parse_event(body)
        except NotAnEvent as exc:
            tally.refused(NOT_AN_EVENT, client, str(exc))
            metrics.webhook("not_an_event")
            return _refuse(400, f"not a Stripe event: {exc}")
        handled = runtime.registry.handles(doc["type"])
        refused = livemode_refusal(doc.get("livemode"), settings.stripe_key)
        new = to_new_event(
            doc, body.decode("utf-8"), handled, "webhook", refused, refused_kind=LIVEMODE_REFUSED
        )
        try:
            is_new = await committer.add(new)
        except Exception as exc:
            log.error("webhook_store_failed", error=str(exc), event_id=new.event_id, client=client)
            tally.refused_quietly(STORE_FAILED)
            metrics.webhook("store_failed")
            return _refuse(503, "could not store the event; Stripe will retry the delivery")
        outcome = "stored" if handled else "ignored"
        outcome = "duplicate" if not is_new else "refused" if refused else outcome
        tally.accepted(outcome)
        metrics.webhook(outcome)
        answer: dict[str, object] = {
            "received": True,
            "id": new.event_id,
            "duplicate": not is_new,
            "ignored": not handled,
        }
        if refused:  # stored, never applied; 200 so that Stripe does not retry it for days
            answer["refused"] = refused
        return JSONResponse(answer)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        try:
            await run_in_threadpool(ping, runtime.engine)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    mount_operations(app, runtime)
    return app
