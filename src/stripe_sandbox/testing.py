"""Helpers for tests and the demo: run a sandbox in-process on a free loopback port, and a
small real webhook receiver.

    with run_sandbox() as sb:
        client = sb.client()
        customer = client.v1.customers.create({"email": "a@example.com"})
        sb.wait_idle()
        sb.deliveries(event_type="customer.created")
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe
import uvicorn

from stripe_sandbox.app import SandboxApp, create_app
from stripe_sandbox.settings import Settings

TEST_KEY = "sk_test_stripe_sandbox_0123456789"


@dataclass
class RunningSandbox:
    api_base: str
    app: SandboxApp
    api_key: str = TEST_KEY

    def client(self, **kwargs: Any) -> stripe.StripeClient:
        """A ``stripe.StripeClient`` pointed at this sandbox."""
        kwargs.setdefault("max_network_retries", 0)
        return stripe.StripeClient(self.api_key, base_addresses={"api": self.api_base}, **kwargs)

    # ---- control plane -----------------------------------------------------------------
    def control(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 120
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.api_base}/_sandbox/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def reset(self) -> Any:
        return self.control("POST", "reset")

    def seed(self, **options: Any) -> Any:
        return self.control("POST", "seed", options, timeout=600)

    def settings(self, **values: Any) -> Any:
        return self.control("POST", "settings", values)

    def faults(self, **values: Any) -> Any:
        """Set fault knobs (``stripe_sandbox.settings.Faults``), e.g. ``faults(late_rate=0.05,
        late_seconds=30)`` or ``faults(api_outage=[{"path": "/v1/events*", "status": 503}])``."""
        return self.control("POST", "faults", values)

    def clear_faults(self) -> Any:
        """Every fault off (the data stays)."""
        return self.control("DELETE", "faults")

    def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        result: list[dict[str, Any]] = self.control(
            "GET", "deliveries" + (f"?{query}" if query else "")
        )["data"]
        return result

    def retry_deliveries(self) -> Any:
        return self.control("POST", "deliveries/retry")

    def advance_time(self, seconds: float) -> Any:
        """Move the sandbox's wall clock (objects outside test clocks) forward."""
        return self.control("POST", "time", {"advance_seconds": seconds})

    def stats(self) -> Any:
        return self.control("GET", "stats")

    def webhook_secret(self, endpoint_id: str) -> str:
        return str(self.control("GET", f"webhook_endpoints/{endpoint_id}/secret")["secret"])

    def wait_idle(self, timeout: float = 10) -> bool:
        """Wait until no clock is advancing and no delivery or billing work is due now."""
        return bool(
            self.control("POST", "wait_idle", {"timeout": timeout}, timeout=timeout + 5)["idle"]
        )

    def wait_for_clock(self, clock_id: str, timeout: float = 30) -> None:
        """Wait until a test clock finished advancing."""
        deadline = time.time() + timeout
        client = self.client()
        while time.time() < deadline:
            if client.v1.test_helpers.test_clocks.retrieve(clock_id).status == "ready":
                return
            time.sleep(0.02)
        raise TimeoutError(f"test clock {clock_id} still advancing after {timeout}s")


@contextmanager
def run_sandbox(
    data_dir: str | None = None,
    settings: Settings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    api_version: str | None = None,
    api_keys: Sequence[str] | None = None,
) -> Iterator[RunningSandbox]:
    """Start a sandbox in a background thread on a free port; stop it on exit.
    ``api_version``: the account's default API version (``Settings.api_version``);
    ``api_keys``: the only keys it accepts (``Settings.api_keys``; the first is the client's)."""
    if api_version is not None:
        settings = settings or Settings()
        settings.update({"api_version": api_version})
    if api_keys:
        settings = settings or Settings()
        settings.update({"api_keys": list(api_keys)})
    app = create_app(data_dir, settings)
    config = uvicorn.Config(
        app.asgi, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="stripe-sandbox-server", daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            raise RuntimeError("stripe sandbox did not start")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        key = api_keys[0] if api_keys else TEST_KEY
        yield RunningSandbox(api_base=f"http://{host}:{bound}", app=app, api_key=key)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback that records POSTed webhooks.

    ``statuses`` is consumed one per request (then ``default_status``), to make an endpoint
    fail a few times before it succeeds."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cond: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._cond = threading.Condition(self._lock)

    def record(self, headers: dict[str, str], body: bytes) -> int:
        with self._cond:
            self.received.append(Received(headers, body, time.time()))
            status = self.statuses.pop(0) if self.statuses else self.default_status
            self._cond.notify_all()
            return status

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Wait until at least ``count`` requests arrived; returns them all."""
        deadline = time.time() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError(f"got {len(self.received)} of {count} webhooks")
                self._cond.wait(left)
            return list(self.received)

    def events(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.received]


@contextmanager
def webhook_receiver(path: str = "/webhooks/stripe") -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"received": true}')

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
