"""Webhook delivery like Stripe's: one delivery per (event, endpoint), signed with the
endpoint's secret, retried with doubling intervals on a non-2xx answer, every attempt
recorded. Runs in background threads and never blocks the API call that caused the event.
Fault knobs (``Sandbox.faults``) drop, duplicate (at once or later), delay, hold back a share
("late": after newer events of the same object) or shuffle deliveries, or take the endpoints
down (``webhook_outage``: every attempt fails and is retried on the schedule below)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from stripe_sandbox.rendering import render_event
from stripe_sandbox.state import Obj, Sandbox, matches

log = logging.getLogger("stripe_sandbox.delivery")


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_delay(base: float, attempt: int) -> float:
    """Seconds before the next try after ``attempt`` failed tries (1, 2, 4, ... x base)."""
    return float(base * (2 ** max(0, attempt - 1)))


class Deliverer:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="stripe-webhook")
        self._rng = random.Random()
        self._client = httpx.Client(timeout=sandbox.settings.webhook_timeout_seconds)
        sandbox.on_commit.append(self.enqueue)

    # ---- queueing ------------------------------------------------------------------------
    def enqueue(self, events: list[Obj]) -> None:
        with self.sb.lock:
            endpoints = [
                (r.id, r.data["url"], r.data["enabled_events"])
                for r in self.sb.store.find("webhook_endpoint")
                if r.data.get("status") == "enabled"
            ]
            if not endpoints:
                return
            now = time.time()
            faults = self.sb.faults
            rows = []
            for event in events:
                for endpoint_id, url, enabled in endpoints:
                    if matches(enabled, event["type"]):
                        due = now + faults.delay_seconds
                        if faults.late_rate and self._rng.random() < faults.late_rate:
                            due += faults.late_seconds
                        rows.append(
                            (event["id"], event["type"], endpoint_id, url, "pending", due, now)
                        )
            self.sb.store.conn.executemany(
                "INSERT INTO deliveries (event_id, event_type, endpoint_id, url, status,"
                " next_attempt_at, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        self._wake.set()

    def retry_now(self) -> int:
        with self.sb.lock:
            cur = self.sb.store.conn.execute(
                "UPDATE deliveries SET next_attempt_at=? WHERE status='pending'", (time.time(),)
            )
        self._wake.set()
        return int(cur.rowcount)

    # ---- worker --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="stripe-sandbox-delivery", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._tick()
            except Exception:
                log.exception("webhook delivery step failed")
                wait = 0.5
            if wait > 0:
                self._wake.wait(min(wait, 1.0))
                self._wake.clear()

    def _tick(self) -> float:
        now = time.time()
        faults = self.sb.faults
        if faults.seed is not None:
            self._rng.seed(faults.seed)
            faults.seed = None
        with self.sb.lock:
            rows = self.sb.store.conn.execute(
                "SELECT seq, event_id, endpoint_id, url, attempt, duplicate FROM deliveries"
                " WHERE status='pending' AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at, seq LIMIT 200",
                (now,),
            ).fetchall()
            if not rows:
                nxt = self.sb.store.conn.execute(
                    "SELECT MIN(next_attempt_at) FROM deliveries WHERE status='pending'"
                ).fetchone()[0]
                return 1.0 if nxt is None else max(0.01, float(nxt) - now)
        batch = list(rows)
        if faults.shuffle:
            self._rng.shuffle(batch)
        by_endpoint: dict[str, list[tuple[Any, ...]]] = {}
        for row in batch:
            by_endpoint.setdefault(str(row[2]), []).append(tuple(row))
        futures = [self._pool.submit(self._send_all, items) for items in by_endpoint.values()]
        for future in futures:
            future.result()
        return 0.0

    def _send_all(self, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            try:
                self._send(*row)
            except Exception:
                log.exception("delivery %s failed unexpectedly", row[0])

    def _send(
        self, seq: int, event_id: str, endpoint_id: str, url: str, attempt: int, duplicate: int
    ) -> None:
        faults = self.sb.faults
        settings = self.sb.settings
        with self.sb.lock:
            event = self.sb.store.get_event(event_id)
            endpoint = self.sb.store.get(endpoint_id, "webhook_endpoint")
            if event is not None and endpoint is not None:
                # in the endpoint's API version, else the account's when the event was made
                version = endpoint.data.get("api_version") or event["api_version"]
                event = render_event(self.sb.store, event, version)
        if event is None or endpoint is None:
            self._finish(seq, "failed", attempt, {"error": "event or endpoint gone"})
            return
        started = time.time()
        record: dict[str, Any] = {"at": started}
        if faults.webhook_outage:
            record["error"] = "ConnectError: the endpoint is down (webhook_outage, injected)"
            record["outage"] = True
            self._failed_attempt(seq, attempt + 1, record)
            return
        if faults.drop_rate and self._rng.random() < faults.drop_rate:
            record["dropped"] = True
            self._finish(seq, "dropped", attempt + 1, record)
            return
        payload = json.dumps(event, indent=2)
        timestamp = int(time.time())
        signature = sign(payload, str(endpoint.meta["secret"]), timestamp)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Cache-Control": "no-cache",
        }
        ok = False
        try:
            response = self._client.post(
                url,
                content=payload.encode(),
                headers=headers,
                timeout=settings.webhook_timeout_seconds,
            )
            record["status_code"] = response.status_code
            record["body"] = response.text[:500]
            ok = 200 <= response.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["duration_ms"] = round((time.time() - started) * 1000, 1)
        attempt += 1
        if ok:
            self._finish(seq, "succeeded", attempt, record)
            with self.sb.lock:
                if not duplicate:
                    stored = self.sb.store.get_event(event_id)
                    if stored is not None and stored["pending_webhooks"] > 0:
                        stored["pending_webhooks"] -= 1
                        self.sb.store.update_event(stored)
                duplicate_now = faults.duplicate_rate and self._rng.random() < faults.duplicate_rate
                if duplicate_now and not duplicate:
                    now = time.time()
                    self.sb.store.conn.execute(
                        "INSERT INTO deliveries (event_id, event_type, endpoint_id, url, status,"
                        " next_attempt_at, created, duplicate) VALUES (?, ?, ?, ?, 'pending',"
                        " ?, ?, 1)",
                        (
                            event_id,
                            event["type"],
                            endpoint_id,
                            url,
                            now + faults.duplicate_delay_seconds,
                            now,
                        ),
                    )
                    self._wake.set()
            return
        self._failed_attempt(seq, attempt, record)

    def _failed_attempt(self, seq: int, attempt: int, record: dict[str, Any]) -> None:
        """After the ``attempt``-th failed try: retry on the schedule, or give up."""
        settings = self.sb.settings
        if attempt >= settings.webhook_max_attempts:
            self._finish(seq, "failed", attempt, record)
        else:
            nxt = time.time() + retry_delay(settings.webhook_retry_base_seconds, attempt)
            self._finish(seq, "pending", attempt, record, nxt)

    def _finish(
        self,
        seq: int,
        status: str,
        attempt: int,
        record: dict[str, Any],
        next_at: float | None = None,
    ) -> None:
        with self.sb.lock:
            row = self.sb.store.conn.execute(
                "SELECT attempts FROM deliveries WHERE seq=?", (seq,)
            ).fetchone()
            attempts = json.loads(row[0]) if row else []
            attempts.append(record)
            self.sb.store.conn.execute(
                "UPDATE deliveries SET status=?, attempt=?, next_attempt_at=?, attempts=?"
                " WHERE seq=?",
                (status, attempt, next_at, json.dumps(attempts), seq),
            )


def delivery_log(sandbox: Sandbox, params: dict[str, str]) -> list[Obj]:
    clauses, args = ["1=1"], []
    for key in ("event_id", "endpoint_id", "status", "event_type"):
        if params.get(key):
            clauses.append(f"{key} = ?")
            args.append(params[key])
    limit = int(params.get("limit") or 1000)
    with sandbox.lock:
        rows = sandbox.store.conn.execute(
            "SELECT seq, event_id, event_type, endpoint_id, url, attempt, status, duplicate,"
            " next_attempt_at, created, attempts FROM deliveries WHERE "
            + " AND ".join(clauses)
            + " ORDER BY seq LIMIT ?",
            [*args, limit],
        ).fetchall()
    return [
        {
            "id": f"dlv_{r[0]}",
            "event_id": r[1],
            "event_type": r[2],
            "endpoint_id": r[3],
            "url": r[4],
            "attempt_count": r[5],
            "status": r[6],
            "duplicate": bool(r[7]),
            "next_attempt_at": r[8],
            "created": r[9],
            "attempts": json.loads(r[10]),
        }
        for r in rows
    ]
