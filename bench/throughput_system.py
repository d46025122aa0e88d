"""The processes of bench/throughput.py, reached through stable interfaces only: the sandboxes'
console scripts and control planes, `stripe2sf serve --no-worker` and `stripe2sf worker` with
settings in environment variables, the webhook endpoint, serve's and the workers' `/metrics`.

Nothing here imports the engine, the store or the domain of stripe2sf, so the benchmark
measures whatever engine is in the tree when it runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from stripe import WebhookSignature

from stripe2sf.demo.processes import ProcessGroup, free_port, script

STRIPE_KEY = "sk_test_stripe2sf_throughput_000000"
SECRET = "whsec_throughput_bench"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SF_USER = "admin@sandbox.example.com"
SF_PASSWORD = "sandbox-password"
SF_TOKEN = "SANDBOXTOKEN"
# A real org's allocation is 100,000+ a day; a larger one here keeps stripe2sf's API budget
# (which slows down and defers near the limit) out of the measurement.
DAILY_LIMIT = 10_000_000


@dataclass
class Org:
    """A Salesforce sandbox process and its control plane."""

    url: str
    ca: Path

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method, f"{self.url}/_sandbox/{path}", json=body, verify=str(self.ca), timeout=120
        )
        response.raise_for_status()
        return response.json()

    def fresh(self, latency_ms: float = 0) -> None:
        """No records (metadata kept), no faults, the given latency on every route, and request
        counts from zero."""
        self.control("POST", "reset", {"schema": False})
        self.control("DELETE", "faults")
        self.latency(latency_ms)
        self.control("POST", "limits", {"daily_limit": DAILY_LIMIT, "used": 0})
        self.zero()

    def latency(self, ms: float) -> None:
        if ms:
            self.control("POST", "latency", {"route": "*", "ms": ms})
        else:
            self.control("DELETE", "latency")

    def zero(self) -> None:
        self.control("DELETE", "requests")

    def api_calls(self) -> int:
        """API calls the org counted (what its daily allocation is charged; logins are not)."""
        return int(self.control("GET", "requests")["api_calls"])

    def by_endpoint(self) -> dict[str, int]:
        return dict(self.control("GET", "requests")["by_endpoint"])

    def env(self) -> dict[str, str]:
        return {
            "SALESFORCE_LOGIN_URL": self.url,
            "SALESFORCE_USERNAME": SF_USER,
            "SALESFORCE_PASSWORD": SF_PASSWORD,
            "SALESFORCE_SECURITY_TOKEN": SF_TOKEN,
            "SALESFORCE_CA_BUNDLE": str(self.ca.resolve()),
        }


@dataclass
class Sandboxes:
    """One Stripe sandbox and two Salesforce sandboxes (stripe2sf's and the naive loop's), both
    with stripe2sf's metadata deployed (`stripe2sf metadata`)."""

    procs: ProcessGroup
    stripe_api: str
    ours: Org
    naive: Org

    @classmethod
    def start(cls, workdir: Path) -> Sandboxes:
        metadata = workdir / "metadata"
        subprocess.run(
            [script("stripe2sf"), "metadata", "--out", str(metadata)],
            check=True,
            capture_output=True,
        )
        procs = ProcessGroup(workdir / "logs")
        orgs = []
        try:
            for name in ("salesforce-ours", "salesforce-naive"):
                port = free_port(0)
                data = workdir / name
                procs.start(
                    name,
                    [
                        script("salesforce-sandbox"),
                        "--port",
                        str(port),
                        "--data",
                        str(data),
                        "--metadata",
                        str(metadata),
                    ],
                )
                orgs.append(Org(f"https://127.0.0.1:{port}", data / "ca.pem"))
            stripe_port = free_port(0)
            procs.start("stripe-sandbox", [script("stripe-sandbox"), "--port", str(stripe_port)])
            stripe_api = f"http://127.0.0.1:{stripe_port}"
            procs.wait_ready("stripe-sandbox", stripe_api + "/_sandbox/health")
            for name, org in zip(("salesforce-ours", "salesforce-naive"), orgs, strict=True):
                procs.wait_ready(name, org.url + "/_sandbox", verify=False)
        except BaseException:
            procs.stop_all()
            raise
        return cls(procs, stripe_api, orgs[0], orgs[1])


class EventFeed:
    """Stripe's events as Stripe sent them, read from the Events API: each call returns the
    events created since the previous one (oldest first), of the given types. Events of other
    types are passed over for good, as an endpoint not enabled for them never sees them."""

    def __init__(self, stripe_api: str) -> None:
        self.http = httpx.Client(
            base_url=stripe_api, headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=60
        )
        self.seen: set[str] = set()

    def new(self, types: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(types)
        fresh: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = self.http.get("/v1/events", params=params)
            page.raise_for_status()
            body = page.json()
            unseen = [e for e in body["data"] if e["id"] not in self.seen]
            fresh.extend(unseen)
            if len(unseen) < len(body["data"]) or not body["has_more"]:
                break
            params["starting_after"] = body["data"][-1]["id"]
        self.seen.update(e["id"] for e in fresh)
        fresh.reverse()  # the API lists newest first
        return [e for e in fresh if e["type"] in wanted]

    def close(self) -> None:
        self.http.close()


def _metric_values(text: str, name: str) -> dict[str, float]:
    """`name{labels} value` lines of a Prometheus text page, by their label text."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            labels = head[len(name) :]
            if labels.startswith("{") or labels == "":
                values[labels] = float(value)
    return values


def listening(port: int) -> bool:
    """Does something accept connections on this loopback port?"""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Stripe2sf:
    """A fresh PostgreSQL database with `stripe2sf serve --no-worker` in front of it (the
    webhook endpoint that fills the inbox), and worker processes started on demand."""

    sandboxes: Sandboxes
    workdir: Path
    name: str
    procs: ProcessGroup = field(init=False)
    dbname: str = field(init=False)
    serve_url: str = field(init=False)
    workers: list[tuple[subprocess.Popen[bytes], int]] = field(default_factory=list)
    stored: int = 0
    started: int = 0

    def __post_init__(self) -> None:
        self.procs = ProcessGroup(self.workdir / "logs" / self.name)
        self.dbname = f"stripe2sf_throughput_{uuid.uuid4().hex[:10]}"

    def env(self) -> dict[str, str]:
        return {
            "STRIPE_API_KEY": STRIPE_KEY,
            "STRIPE_API_BASE": self.sandboxes.stripe_api,
            **self.sandboxes.ours.env(),
            "STRIPE2SF_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{self.dbname}",
            "STRIPE_WEBHOOK_SECRET": SECRET,
            "STRIPE2SF_CATCHUP_SECONDS": "0",  # the inbox holds exactly what the bench posts
            "STRIPE2SF_RETRY_BASE_SECONDS": "1",
        }

    def __enter__(self) -> Stripe2sf:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        port = free_port(0)
        self.serve_url = f"http://127.0.0.1:{port}"
        try:
            self.procs.start(
                "serve",
                [script("stripe2sf"), "serve", "--no-worker", "--port", str(port)],
                env=self.env(),
            )
            self.procs.wait_ready("serve", self.serve_url + "/readyz", timeout=120)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.procs.stop_all()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')

    # ---- the inbox ----------------------------------------------------------------------
    def post(self, events: list[dict[str, Any]], senders: int = 4) -> None:
        """Deliver the events to the webhook endpoint, signed as Stripe signs them."""
        bodies = [json.dumps(e) for e in events]

        def send(chunk: list[str]) -> None:
            with httpx.Client(base_url=self.serve_url, timeout=60) as http:
                for body in chunk:
                    header = WebhookSignature.generate_signature_header(body, SECRET)
                    answer = http.post(
                        "/webhooks/stripe",
                        content=body.encode(),
                        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                    )
                    if answer.status_code != 200:
                        raise RuntimeError(f"webhook refused ({answer.status_code}): {answer.text}")

        chunks = [bodies[i::senders] for i in range(senders)]
        with ThreadPoolExecutor(senders) as pool:
            list(pool.map(send, [c for c in chunks if c]))
        self.stored += len(bodies)

    def counts(self) -> dict[str, int]:
        """Inbox events by state, from serve's /metrics."""
        text = httpx.get(self.serve_url + "/metrics", timeout=30).text
        values = _metric_values(text, "stripe2sf_inbox_events")
        return {k.split('"')[1]: int(v) for k, v in values.items() if '"' in k}

    def settled(self) -> int:
        """Events no longer pending (applied, ignored, dead-lettered or refused)."""
        counts = self.counts()
        return sum(counts.values()) - counts.get("pending", 0)

    def wait_settled(self, total: int, timeout: float, poll: float = 0.1) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.settled() >= total:
                return True
            time.sleep(poll)
        return False

    # ---- workers ------------------------------------------------------------------------
    def start_workers(self, n: int, concurrency: int | None) -> None:
        """`n` worker processes; returns once each serves its /metrics (imports done, about to
        claim). `concurrency` None: the settings' default."""
        env = self.env()
        if concurrency is not None:
            env["STRIPE2SF_WORKER_CONCURRENCY"] = str(concurrency)
        names = []
        for _ in range(n):
            port = free_port(0)
            self.started += 1
            name = f"worker-{self.started}"
            self.procs.start(
                name, [script("stripe2sf"), "worker", "--metrics-port", str(port)], env=env
            )
            self.workers.append((self.procs.procs[name], port))
            names.append((name, port))
        for name, port in names:
            self._wait_serving(name, port)

    def _wait_serving(self, name: str, port: int, timeout: float = 120) -> None:
        """Polled every 20 ms: the worker claims right after its /metrics is up, and the
        measurement starts here."""
        proc = self.procs.procs[name]
        deadline = time.monotonic() + timeout
        while not listening(port):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see its log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not serve /metrics within {timeout:.0f} s")
            time.sleep(0.02)

    @staticmethod
    def _wm(port: int) -> str:
        return f"http://127.0.0.1:{port}/metrics"

    def worker_cpu(self) -> float:
        return sum(cpu_seconds(proc.pid) for proc, _ in self.workers)

    def worker_reported_calls(self) -> int | None:
        """Salesforce calls the workers say they made (`stripe2sf_salesforce_calls_total` on
        their /metrics), None when they do not expose it."""
        total, found = 0.0, False
        for _, port in self.workers:
            text = httpx.get(self._wm(port), timeout=30).text
            values = _metric_values(text, "stripe2sf_salesforce_calls_total")
            found = found or bool(values)
            total += sum(values.values())
        return int(total) if found else None

    def stop_workers(self) -> None:
        for proc, _ in self.workers:
            proc.terminate()
        for proc, _ in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()
