"""The demo's closing summary: figures read from Salesforce, Stripe and our own store, and the
checks that `--exit` turns into the exit code."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import stripe
from rich.console import Console
from rich.table import Table

from stripe2sf.demo.processes import Endpoints, script
from stripe2sf.demo.scenario import ScenarioReport
from stripe2sf.demo.seed import SeededOrg
from stripe2sf.domain.config import default_config
from stripe2sf.store.db import make_engine
from stripe2sf.store.reports import Reports

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Summary:
    figures: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def check(self, name: str, passed: bool, problem: str) -> None:
        self.checks[name] = passed
        if not passed:
            self.problems.append(f"{name}: {problem}")

    def write(self, path: Path) -> None:
        """The figures and checks as JSON, for scripts and the acceptance test."""
        doc = {"figures": self.figures, "checks": self.checks, "problems": self.problems}
        path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")

    def print(self, console: Console) -> None:
        table = Table(title="stripe2sf demo summary")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for name, value in self.figures.items():
            table.add_row(name, str(value))
        console.print(table)
        for name, passed in self.checks.items():
            console.print(f"  {'[green]PASS' if passed else '[red]FAIL'}[/] {name}")
        for problem in self.problems:
            console.print(f"  [red]{problem}[/red]")


def failed_attempt_keys(invoices: Iterable[Mapping[str, Any]]) -> set[str]:
    """The dedupe key of every failed payment attempt of these invoices: attempts 1 to
    attempt_count of an unpaid invoice, all but the last of a paid one (that one paid it)."""
    keys: set[str] = set()
    for inv in invoices:
        attempts = int(inv.get("attempt_count") or 0)
        if inv.get("status") == "paid":
            attempts -= 1
        keys.update(f"{inv['id']}:{n}" for n in range(1, attempts + 1))
    return keys


def _records(client: httpx.Client, sobject: str) -> list[dict[str, Any]]:
    response = client.get(f"/_sandbox/records/{sobject}")
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["records"]
    return rows


def _latencies(database_url: str) -> list[float]:
    engine = make_engine(database_url)
    try:
        return [seconds for _, seconds in Reports(engine).latencies_since(EPOCH)]
    finally:
        engine.dispose()


def summarize(
    client: stripe.StripeClient,
    ends: Endpoints,
    report: ScenarioReport,
    org: SeededOrg,
    counts: dict[str, int],
    captured: int = 0,
) -> Summary:
    """`captured`: how many of the processed events were Salesforce changes (the capture's),
    left out of the calls per Stripe event."""
    names = default_config().objects
    summary = Summary()
    with httpx.Client(base_url=ends.salesforce, verify=str(ends.ca_path), timeout=30) as sf:
        accounts = _records(sf, "Account")
        contacts = _records(sf, "Contact")
        payments = _records(sf, names.payment_object)
        tasks = _records(sf, "Task")
        cases = _records(sf, "Case")
        api = sf.get("/_sandbox/requests").json()
    charges = [c for c in client.v1.charges.list({"limit": 100}).auto_paging_iter()]
    invoices = [i.to_dict() for i in client.v1.invoices.list({"limit": 100}).auto_paging_iter()]
    succeeded = [c for c in charges if c.status == "succeeded"]

    key = names.customer_id_field
    linked = Counter(a.get(key) for a in accounts if a.get(key))
    seeded_linked = [a for a in accounts if a["Id"] in org.accounts and a.get(key)]
    created = [a for a in accounts if a["Id"] not in org.accounts and a.get(key)]
    dedupe = names.dedupe_key_field
    dunning = [t for t in tasks + cases if str(t.get(dedupe) or "").startswith("in_")]
    open_dunning = [t for t in dunning if t.get("Status") not in ("Completed", "Closed")]
    reviews = [t for t in tasks if str(t.get(dedupe) or "").startswith("review:")]
    in_review = {str(t[dedupe]).removeprefix("review:") for t in reviews}
    disputes = [c for c in cases if str(c.get(dedupe) or "").startswith("dispute:")]
    latencies = _latencies(ends.database_url)
    processed = counts.get("done", 0)
    stripe_events = max(processed - captured, 0)
    calls = int(api.get("api_calls", 0))

    summary.figures = {
        "Stripe customers": len(report.customers),
        "Accounts linked (existing)": len(seeded_linked),
        "Accounts created": len(created),
        "Contacts in Salesforce": len(contacts),
        "payments in Salesforce": len(payments),
        "succeeded charges in Stripe": len(succeeded),
        "subscription statuses": dict(
            Counter(a.get(names.subscription_status_field) for a in accounts if a.get(key))
        ),
        "failed payment attempts in Stripe": len(failed_attempt_keys(invoices)),
        "collection Tasks/Cases open": len(open_dunning),
        "collection Tasks/Cases closed": len(dunning) - len(open_dunning),
        "customers in the review queue (ambiguous email)": len(in_review),
        "dispute Cases": len(disputes),
        "events processed": processed,
        "dead letters": counts.get("dead", 0),
        "ignored events": counts.get("ignored", 0),
        "Salesforce API calls": calls,
        "API calls per Stripe event": round(calls / stripe_events, 2) if stripe_events else 0,
        "sync latency p50 / p95 (s)": (
            f"{statistics.median(latencies):.2f} / "
            f"{sorted(latencies)[int(0.95 * (len(latencies) - 1))]:.2f}"
            if latencies
            else "n/a"
        ),
    }
    unlinked = [c for c in report.customers if linked.get(c, 0) != 1 and c not in in_review]
    summary.check(
        "every Stripe customer linked to exactly one Account, or waiting for review",
        not unlinked,
        f"{len(unlinked)} not linked exactly once, e.g. {unlinked[:3]}",
    )
    stale = [
        t[dedupe]
        for t in open_dunning
        if client.v1.invoices.retrieve(str(t[dedupe]).split(":")[0]).status == "paid"
    ]
    summary.check(
        "no open collection Task for a paid invoice",
        not stale,
        f"open for paid invoices: {stale}",
    )
    missing = sorted(failed_attempt_keys(invoices) - {str(t.get(dedupe)) for t in dunning})
    summary.check(
        "a collection Task/Case for every failed payment attempt",
        not missing,
        f"no Task/Case for {len(missing)} attempt(s), e.g. {missing[:3]}",
    )
    summary.check(
        "disputes opened a Case", len(disputes) >= len(report.disputed), "missing dispute Case"
    )
    emails = Counter((c.get("Email") or "").lower() for c in contacts)
    duplicated = [e for e in org.matching_emails if emails[e.lower()] != 1]
    summary.check(
        "existing Contacts linked, not duplicated",
        not duplicated,
        f"emails with several Contacts: {duplicated}",
    )
    summary.check(
        "every succeeded charge is a payment in Salesforce",
        len(payments) >= len(succeeded),
        f"{len(payments)} payments for {len(succeeded)} succeeded charges",
    )
    summary.check(
        "no dead letters", counts.get("dead", 0) == 0, f"{counts.get('dead')} dead letters"
    )
    return summary


def check_reconcile(summary: Summary, ends: Endpoints, workdir: Path) -> None:
    """`stripe2sf reconcile` as finance would run it at month-end: zero drift expected."""
    report = workdir / "reconcile.html"
    done = subprocess.run(
        [script("stripe2sf"), "reconcile", "--json", "--format", "html", "--output", str(report)],
        env={**os.environ, **ends.env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        doc = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        summary.check("reconcile: zero drift", False, f"reconcile failed: {done.stderr[-500:]}")
        return
    summary.figures["reconcile: differences (report)"] = f"{doc['remaining']} ({report.name})"
    counts = doc["before"]["counts"]
    summary.check(
        "reconcile: Stripe and Salesforce agree (zero drift)",
        doc["remaining"] == 0,
        f"drift by kind: {counts}; see {report}",
    )
