"""Webhook ingest benchmark: signed deliveries from concurrent senders against `stripe2sf serve`.

    .venv/bin/python bench/ingest.py [--rate 200] [--seconds 15] [--backends sqlite,postgres]

For each backend it starts `stripe2sf serve` (webhook endpoint plus in-process worker) as a
process, sends signed events at a fixed open-loop rate (latency measured from the scheduled send
time, so a slow server cannot hide queueing), then at full speed from 16 senders, and finally
checks that every acknowledged event is in the database. Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, text
from stripe import WebhookSignature

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_bench"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body_for(n: int, run: str) -> str:
    doc = {
        "id": f"evt_{run}_{n}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "charge.succeeded",
        "data": {
            "object": {
                "id": f"ch_{run}_{n}",
                "object": "charge",
                "amount": 1999,
                "currency": "usd",
                "customer": f"cus_{n % 500}",
                "status": "succeeded",
            }
        },
    }
    return json.dumps(doc)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the sender must cost far less than the server,
    or on a 2-core machine the benchmark measures its own client."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def signed_request(n: int, run: str) -> tuple[bytes, dict[str, str]]:
    body = body_for(n, run)
    header = WebhookSignature.generate_signature_header(body, SECRET)
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


async def open_loop(
    url: str, rate: float, seconds: float, run: str, senders: int = 32
) -> tuple[list[float], int]:
    """Send at a fixed rate; latency counts from the scheduled time of each request."""
    host, port = url.removeprefix("http://").split(":")
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    acked = 0

    async def sender() -> None:
        nonlocal acked
        conn = Connection(host, int(port))
        while (item := await queue.get()) is not None:
            n, scheduled = item
            body, headers = signed_request(n, run)
            status = await conn.post("/webhooks/stripe", body, headers)
            latencies.append((time.perf_counter() - scheduled) * 1000)
            acked += status == 200  # read after the await: no lost update
        conn.close()

    tasks = [asyncio.create_task(sender()) for _ in range(senders)]
    start = time.perf_counter()
    for n in range(total):
        scheduled = start + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        queue.put_nowait((n, scheduled))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return latencies, acked


async def closed_loop(url: str, senders: int, total: int, run: str) -> tuple[float, int]:
    """As fast as `senders` connections can go; returns requests/s."""
    host, port = url.removeprefix("http://").split(":")
    counter = iter(range(total))
    acked = 0

    async def sender() -> None:
        nonlocal acked
        conn = Connection(host, int(port))
        for n in counter:
            body, headers = signed_request(n, run)
            status = await conn.post("/webhooks/stripe", body, headers)
            acked += status == 200
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    return total / (time.perf_counter() - start), acked


def _count(url: str, sql: str, **params: str) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar()
    engine.dispose()
    return int(value or 0)


def stored_count(url: str, prefix: str) -> int:
    return _count(url, "SELECT count(*) FROM events WHERE event_id LIKE :p", p=f"evt_{prefix}_%")


def pending_count(url: str) -> int:
    return _count(url, "SELECT count(*) FROM events WHERE state = 'pending'")


def drain_seconds(url: str, limit: float = 120) -> float | None:
    """How long the worker takes to apply what is still pending (None: not within `limit`)."""
    started = time.perf_counter()
    while pending_count(url):
        if time.perf_counter() - started > limit:
            return None
        time.sleep(0.2)
    return time.perf_counter() - started


def bench_backend(
    backend: str,
    rate: float,
    seconds: float,
    extra_args: tuple[str, ...] = (),
    worker_process: bool = False,
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="stripe2sf-bench-"))
    dbname = ""
    if backend == "sqlite":
        db_url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        dbname = f"stripe2sf_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        db_url = f"postgresql://postgres@127.0.0.1:5432/{dbname}"
    port = free_port()
    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE2SF_DATABASE_URL": db_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stripe2sf", "serve", "--port", str(port), *extra_args],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    worker: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"stripe2sf serve did not become ready at {url}")
            time.sleep(0.1)
        # Started once serve is ready: two processes migrating one new database would race.
        worker = (
            subprocess.Popen(
                [sys.executable, "-m", "stripe2sf", "worker"],
                env=env,
                cwd=workdir,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if worker_process
            else None
        )
        if worker is not None:
            time.sleep(5)  # let it start before the measurement
        latencies, acked_open = asyncio.run(open_loop(url, rate, seconds, "open"))
        backlog = pending_count(db_url) if extra_args != ("--no-worker",) or worker else None
        throughput, acked_closed = asyncio.run(closed_loop(url, 16, 2000, "closed"))
        stored_open = stored_count(db_url, "open")
        stored_closed = stored_count(db_url, "closed")
        drained = drain_seconds(db_url) if backlog is not None else None
        applied = _count(db_url, "SELECT count(*) FROM events WHERE state = 'done'")
    finally:
        for p in (proc, worker):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)
        if dbname:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return {
        "backend": backend,
        "rate_rps": rate,
        "requests": len(latencies),
        "ack_p50_ms": round(statistics.median(latencies), 2),
        "ack_p99_ms": round(percentile(latencies, 0.99), 2),
        "max_rps": round(throughput, 1),
        "acked": acked_open + acked_closed,
        "stored": stored_open + stored_closed,
        "all_acked_stored": stored_open == acked_open and stored_closed == acked_closed,
        # The worker keeps up: what was still pending when the open loop ended, how long it
        # took to apply the closed loop's burst afterwards, and how many events it applied.
        "pending_after_open_loop": backlog,
        "drain_after_burst_s": round(drained, 2) if drained is not None else None,
        "applied": applied,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--worker",
        choices=("thread", "process", "none"),
        default="thread",
        help="apply events in serve's own worker threads (default), in a separate "
        "`stripe2sf worker` process, or not at all (intake alone)",
    )
    args = parser.parse_args()
    extra = () if args.worker == "thread" else ("--no-worker",)
    results = [
        {
            **bench_backend(b, args.rate, args.seconds, extra, args.worker == "process"),
            "worker": args.worker,
        }
        for b in args.backends.split(",")
    ]
    for r in results:
        print(
            f"{r['backend']:>8}: {r['requests']} req at {r['rate_rps']:.0f}/s -> ack p50 "
            f"{r['ack_p50_ms']} ms, p99 {r['ack_p99_ms']} ms; max {r['max_rps']} req/s; "
            f"acked {r['acked']}, stored {r['stored']}; worker: {r['pending_after_open_loop']} "
            f"pending after the open loop, burst drained in {r['drain_after_burst_s']} s, "
            f"{r['applied']} applied"
        )
    print(json.dumps({"bench": "ingest", "results": results}))


if __name__ == "__main__":
    main()
