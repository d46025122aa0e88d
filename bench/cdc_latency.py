"""Salesforce -> Stripe: latency and Salesforce API calls per captured change.

Both sandboxes and `stripe2sf serve` run as processes (the demo's start-up: metadata with the
Change Data Capture channel members, the integration user, `[salesforce_to_stripe]` on and
`Contact.Email` Salesforce's once the Contact exists). Stripe customers are created with the
`stripe` SDK and synced through the webhook as usual; then a sales rep (a seeded user, not
stripe2sf's integration user), logged in with simple-salesforce, edits their Contacts' emails
at a steady rate, each Contact at most once every few seconds.

Latency of a change: from the rep's REST response (the change is committed) to the Stripe
customer showing the new email, as a client polling `GET /v1/customers/{id}` every 50 ms sees
it (so up to ~60 ms of polling granularity is included). API calls: the Salesforce org's own
count (`/_sandbox/requests`) over the edits and until every change has arrived, minus the rep's
own calls (one PATCH per edit): what stripe2sf spent per captured change, whatever it did.

`--mode cdc` captures over the Pub/Sub API (STRIPE2SF_CAPTURE=cdc); `--mode poll` polls
(STRIPE2SF_CAPTURE=poll) every `--poll-seconds` (default 2 s, with STRIPE2SF_POLL_API_SHARE
1.0 so the API share does not lengthen it: far more often than the 60 s default, to give a
comparable latency; the calls it costs are the price of that). `--mode both` (default) runs
each on fresh processes. Prints p50 / p95 / max, calls per change and a last line of JSON.

    .venv/bin/python bench/cdc_latency.py [--edits 30] [--rate 2] [--mode both]
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe
from rich.console import Console

from stripe2sf.demo.processes import Endpoints, ProcessGroup
from stripe2sf.demo.run import (
    STRIPE_KEY,
    register_webhook,
    start_sandboxes,
    start_service,
)
from stripe2sf.demo.seed import seed_salesforce
from stripe2sf.demo.two_way import records, rep_login, sobject, wait_for

REP = "sam@sales.example"  # a seeded sales user (demo.seed)
POLL_EVERY = 0.05
GOAL_P95 = 2.0
GOAL_CALLS = 0.0


@dataclass
class Pending:
    customer: str
    email: str
    sent: float  # monotonic time of the rep's REST response


@dataclass
class Watcher:
    """Polls Stripe for the customers whose new email has not arrived yet."""

    client: stripe.StripeClient
    pending: dict[int, Pending] = field(default_factory=dict)
    latencies: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    polls: int = 0

    def add(self, n: int, item: Pending) -> None:
        with self.lock:
            self.pending[n] = item

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                items = list(self.pending.items())
            for n, item in items:
                email = self.client.v1.customers.retrieve(item.customer).email
                self.polls += 1
                if email == item.email:
                    arrived = time.monotonic()
                    with self.lock:
                        self.latencies[n] = arrived - item.sent
                        self.pending.pop(n, None)
            self.stop.wait(POLL_EVERY)

    def outstanding(self) -> int:
        with self.lock:
            return len(self.pending)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _requests(ends: Endpoints) -> dict[str, Any]:
    answer = httpx.get(ends.salesforce + "/_sandbox/requests", verify=str(ends.ca_path))
    answer.raise_for_status()
    doc: dict[str, Any] = answer.json()
    return doc


def _linked_contacts(ends: Endpoints, emails: dict[str, str]) -> dict[str, tuple[str, str]]:
    """email -> (Contact id, Stripe customer id) for the customers stripe2sf has linked."""
    found = {}
    for row in records(ends, "Contact"):
        email = str(row.get("Email") or "").lower()
        if email in emails and row.get("Stripe_Customer_Id__c") == emails[email]:
            found[email] = (str(row["Id"]), emails[email])
    return found


def run_mode(mode: str, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    workdir = Path(args.workdir).resolve() / mode
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    procs = ProcessGroup(workdir / "logs")
    try:
        ends = start_sandboxes(procs, workdir, console, two_way=True)
        seed_salesforce(ends.salesforce, ends.ca_path)
        client = stripe.StripeClient(
            STRIPE_KEY, base_addresses={"api": ends.stripe_api}, max_network_retries=2
        )
        secret = register_webhook(client, ends.service)
        if mode == "poll":
            ends.env.update(
                {
                    "STRIPE2SF_CAPTURE": "poll",
                    "STRIPE2SF_CAPTURE_POLL_SECONDS": str(args.poll_seconds),
                    "STRIPE2SF_POLL_API_SHARE": "1.0",
                }
            )
        if args.linger_ms is not None:
            ends.env["STRIPE2SF_BATCH_LINGER_MS"] = str(args.linger_ms)
        start_service(procs, ends, secret, secrets.token_urlsafe(12))

        emails = {}
        for k in range(args.contacts):
            email = f"bench{k}@cdc.example"
            emails[email] = str(
                client.v1.customers.create({"email": email, "name": f"CDC Bench {k}"}).id
            )
        contacts, _ = wait_for(
            f"{args.contacts} Contacts linked to their Stripe customers",
            lambda: (c := _linked_contacts(ends, emails)) and len(c) == len(emails) and c,
            timeout=120,
        )
        time.sleep(args.settle)  # the capture has seen stripe2sf's own writes by now
        rep = rep_login(ends, REP)
        contact_api = sobject(rep, "Contact")
        watcher = Watcher(client)
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        before = _requests(ends)
        started = time.monotonic()
        order = list(contacts.values())
        for n in range(args.edits):
            slot = started + n / args.rate
            time.sleep(max(0.0, slot - time.monotonic()))
            contact_id, customer = order[n % len(order)]
            email = f"edit{n}-{contact_id[-6:].lower()}@cdc.example"
            contact_api.update(contact_id, {"Email": email})
            watcher.add(n, Pending(customer, email, time.monotonic()))
        deadline = time.monotonic() + args.timeout
        while watcher.outstanding() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(args.settle)  # the echoes (customer.updated) come back and are skipped
        after = _requests(ends)
        watcher.stop.set()
        thread.join(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        procs.stop_all()

    latencies = [watcher.latencies[n] for n in sorted(watcher.latencies)]
    calls = int(after["api_calls"]) - int(before["api_calls"]) - args.edits
    by_endpoint = {
        k: n - before["by_endpoint"].get(k, 0)
        for k, n in after["by_endpoint"].items()
        if n != before["by_endpoint"].get(k, 0)
    }
    result: dict[str, Any] = {
        "mode": mode,
        "edits": args.edits,
        "arrived": len(latencies),
        "rate_per_s": args.rate,
        "contacts": args.contacts,
        "seconds": round(elapsed, 1),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(_percentile(latencies, 0.95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "stripe2sf_salesforce_calls": calls,
        "calls_per_change": round(calls / args.edits, 3),
        "salesforce_requests_by_endpoint": by_endpoint,
    }
    if mode == "poll":
        result["poll_seconds"] = args.poll_seconds
    if args.linger_ms is not None:
        result["batch_linger_ms"] = args.linger_ms
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=30, help="Contact edits by the rep")
    parser.add_argument("--rate", type=float, default=2.0, help="edits per second")
    parser.add_argument("--contacts", type=int, default=15, help="Contacts edited in turn")
    parser.add_argument("--mode", choices=("cdc", "poll", "both"), default="both")
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before and after")
    parser.add_argument("--timeout", type=float, default=60.0, help="for the last changes")
    parser.add_argument(
        "--linger-ms",
        type=int,
        default=None,
        help="STRIPE2SF_BATCH_LINGER_MS for serve (default: stripe2sf's own, 1000)",
    )
    parser.add_argument("--workdir", default="var/bench-cdc")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    modes = ("cdc", "poll") if args.mode == "both" else (args.mode,)
    results = []
    for mode in modes:
        console.rule(f"capture = {mode}")
        result = run_mode(mode, args, console)
        results.append(result)
        print(
            f"{mode}: {result['arrived']}/{result['edits']} changes in Stripe; latency p50 "
            f"{result['p50_s']} s, p95 {result['p95_s']} s, max {result['max_s']} s; "
            f"{result['stripe2sf_salesforce_calls']} Salesforce calls by stripe2sf "
            f"({result['calls_per_change']} per change)"
        )
    cdc = next((r for r in results if r["mode"] == "cdc"), None)
    goals = {}
    if cdc is not None:
        goals = {
            "cdc_p95_under_2s": cdc["p95_s"] is not None and cdc["p95_s"] < GOAL_P95,
            "cdc_zero_calls_per_change": cdc["calls_per_change"] == GOAL_CALLS,
            "cdc_every_change_arrived": cdc["arrived"] == cdc["edits"],
        }
    print(json.dumps({"benchmark": "cdc_latency", "results": results, "goals": goals}))
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
