"""The ASGI application: Stripe's v1 API, the ``/_sandbox/`` control plane, and the
background workers (scheduler, webhook delivery) tied to the app's lifespan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stripe_sandbox import control
from stripe_sandbox.api import Api, ListSpec, Operation
from stripe_sandbox.delivery import Deliverer
from stripe_sandbox.errors import InvalidRequestError, error_body
from stripe_sandbox.routes import ROUTES
from stripe_sandbox.scheduler import Scheduler
from stripe_sandbox.settings import Settings
from stripe_sandbox.state import Sandbox


class SandboxApp:
    """Everything one running sandbox owns."""

    def __init__(self, data_path: str = ":memory:", settings: Settings | None = None) -> None:
        self.sandbox = Sandbox(data_path, settings)
        self.api = Api(self.sandbox)
        self.scheduler = Scheduler(self.sandbox)
        self.deliverer = Deliverer(self.sandbox)
        self.asgi = self._build()

    def start_workers(self) -> None:
        self.scheduler.start()
        self.deliverer.start()

    def stop_workers(self) -> None:
        self.scheduler.stop()
        self.deliverer.stop()

    def _endpoint(
        self, method: str, path: str, target: Operation | ListSpec
    ) -> Callable[[Request], Awaitable[Response]]:
        api = self.api

        async def endpoint(request: Request) -> Response:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            result = await run_in_threadpool(
                api.handle,
                method,
                path,
                target,
                dict(request.path_params),
                request.url.query,
                body,
                headers,
                request.url.path,
            )
            return Response(
                result.body, result.status, result.headers, media_type="application/json"
            )

        return endpoint

    def _build(self) -> Starlette:
        by_path: dict[str, dict[str, Operation | ListSpec]] = {}
        for method, path, target in ROUTES:
            by_path.setdefault(path, {})[method] = target
        routes: list[Route] = []
        for path, methods in by_path.items():
            handlers = {m: self._endpoint(m, path, t) for m, t in methods.items()}
            routes.append(Route(path, _dispatcher(handlers), methods=list(handlers)))
        routes.extend(control.routes(self))
        routes.append(Route("/v1/{rest:path}", _unknown, methods=["GET", "POST", "DELETE"]))

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.start_workers()
            try:
                yield
            finally:
                self.stop_workers()

        return Starlette(routes=routes, lifespan=lifespan)


def _dispatcher(
    handlers: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        return await handlers[request.method](request)

    return dispatch


async def _unknown(request: Request) -> Response:
    err = InvalidRequestError(
        f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        status=404,
    )
    return Response(json.dumps(error_body(err)), 404, media_type="application/json")


def create_app(data_dir: str | None = None, settings: Settings | None = None) -> Any:
    """ASGI app for ``uvicorn``; state in ``data_dir/stripe-sandbox.sqlite3`` or in memory."""
    import os

    path = ":memory:"
    if data_dir:
        os.makedirs(data_dir, exist_ok=True)
        path = os.path.join(data_dir, "stripe-sandbox.sqlite3")
    return SandboxApp(path, settings)
