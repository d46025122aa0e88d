"""Backfill against both sandboxes: a seeded history into an empty org (twice: the second run
changes nothing), killed with SIGKILL and resumed, and a Salesforce rate-limit window in the
middle of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from stripe2sf.domain.backfill.plan import PHASES
from stripe2sf.engine.backfill import BackfillOptions, NullProgress
from stripe2sf.store.db import make_engine
from stripe2sf.store.history_tables import backfill_checkpoints, backfill_runs
from tests.support.history import (
    CLI,
    Boxes,
    env_for,
    parts,
    records,
    sandboxes,
    settings_for,
)

WRITES = ("POST /composite", "PATCH /composite", "POST /jobs/ingest", "PATCH /sobjects")


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    with sandboxes() as b:
        yield b


@pytest.fixture
def fresh(boxes: Boxes) -> Boxes:
    boxes.salesforce.reset()
    boxes.salesforce.clear_faults()
    boxes.stripe.reset()
    return boxes


def _linked(boxes: Boxes) -> Counter[str]:
    return Counter(
        a["Stripe_Customer_Id__c"]
        for a in records(boxes, "Account")
        if a.get("Stripe_Customer_Id__c")
    )


def _writes(boxes: Boxes) -> int:
    by_endpoint = boxes.salesforce.requests()["by_endpoint"]
    return sum(n for route, n in by_endpoint.items() if route.startswith(WRITES))


def test_backfill_into_an_empty_org_then_again_changes_nothing(
    fresh: Boxes, tmp_path: Path
) -> None:
    seeded = fresh.stripe.seed(customers=60, charges_per_customer=3, random_seed=3)
    p = parts(settings_for(fresh, f"sqlite:///{tmp_path}/db.sqlite"))
    try:
        # dry run: counts and planned calls against today's limit, nothing written
        fresh.salesforce.set_limits(daily_limit=100_000, used=99_990)
        dry = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf", dry_run=True))
        assert dry.status == "dry-run" and dry.counts["charges"] == seeded["charges"]
        assert dry.estimate is not None and dry.budget is not None
        assert not dry.budget.ok and dry.exit_code == 4  # more than half of what is left
        fresh.salesforce.set_limits(daily_limit=100_000, used=0)
        assert _writes(fresh) == 0 and records(fresh, "Account") == []
        assert not list((tmp_path / "bf").glob("*.sqlite"))

        options = BackfillOptions(rate=500, workdir=tmp_path / "bf", job_size=100)
        first = p.backfill(options)
        assert first.status == "succeeded" and first.exit_code == 0, first.message
        total = first.total()
        assert total.failed == 0
        assert first.tallies["customers"].created == 120  # Account + Contact each
        assert first.tallies["charges"].created == seeded["charges"]
        by_endpoint = fresh.salesforce.requests()["by_endpoint"]
        assert by_endpoint.get("POST /jobs/ingest", 0) > 0, "Bulk API 2.0 above the threshold"

        linked = _linked(fresh)
        assert len(linked) == 60 and set(linked.values()) == {1}
        payments = records(fresh, "Stripe_Payment__c")
        assert len(payments) == seeded["charges"]
        statuses = {a["Subscription_Status__c"] for a in records(fresh, "Account")}
        assert statuses == {"Active"}
        before = {
            r["Id"]: r
            for sobject in ("Account", "Contact", "Stripe_Payment__c")
            for r in records(fresh, sobject)
        }
        writes_before = _writes(fresh)

        second = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf", job_size=100))
        assert second.status == "succeeded"
        again = second.total()
        assert (again.created, again.updated, again.failed) == (0, 0, 0)
        assert again.skipped == again.objects == total.objects
        assert _writes(fresh) == writes_before, "the second run wrote to Salesforce"
        after = {
            r["Id"]: r
            for sobject in ("Account", "Contact", "Stripe_Payment__c")
            for r in records(fresh, sobject)
        }
        assert after == before
    finally:
        p.close()


def _write_checkpoint(db_url: str) -> bool:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(backfill_checkpoints.c.phase, backfill_checkpoints.c.cursor)
            ).all()
    except Exception:
        return False
    finally:
        engine.dispose()
    return any(r.phase in PHASES and r.cursor for r in rows)


def test_killed_backfill_resumes_without_duplicates(fresh: Boxes, tmp_path: Path) -> None:
    seeded = fresh.stripe.seed(customers=150, charges_per_customer=3, random_seed=5)
    db_url = f"sqlite:///{tmp_path}/db.sqlite"
    env = env_for(fresh, db_url)
    args = [
        *CLI,
        "backfill",
        "--rate",
        "500",
        "--job-size",
        "60",
        "--poll",
        "0.2",
        "--workdir",
        str(tmp_path / "bf"),
    ]
    fresh.salesforce.set_latency(60, "POST /jobs/ingest")
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _write_checkpoint(db_url):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "no write checkpoint within 60 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    engine = make_engine(db_url)
    with engine.connect() as conn:
        [status] = conn.execute(select(backfill_runs.c.status)).scalars().all()
    assert status == "running"  # killed: certainly not a success

    fresh.salesforce.set_latency(0, "POST /jobs/ingest")
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "resuming backfill run" in done.stderr + done.stdout
    with engine.connect() as conn:
        statuses = conn.execute(select(backfill_runs.c.status)).scalars().all()
    engine.dispose()
    assert statuses == ["succeeded"]

    linked = _linked(fresh)
    assert len(linked) == 150 and set(linked.values()) == {1}, "duplicate or missing Accounts"
    contacts = Counter(c["Stripe_Customer_Id__c"] for c in records(fresh, "Contact"))
    assert len(contacts) == 150 and set(contacts.values()) == {1}
    charge_ids = Counter(p["Stripe_Charge_Id__c"] for p in records(fresh, "Stripe_Payment__c"))
    assert len(charge_ids) == seeded["charges"] and set(charge_ids.values()) == {1}


class _FaultInTheMiddle:
    """Progress sink that injects REQUEST_LIMIT_EXCEEDED when the charges start being written."""

    def __init__(self, boxes: Boxes, count: int) -> None:
        self.boxes = boxes
        self.count = count
        self.notes: list[str] = []

    def phase(self, name: str, total: int | None, done: int = 0) -> None:
        if name == "write charges":
            self.boxes.salesforce.add_fault(
                "POST /jobs/ingest", "REQUEST_LIMIT_EXCEEDED", count=self.count
            )

    def advance(self, n: int) -> None:
        return None

    def note(self, text: str) -> None:
        self.notes.append(text)


def test_rate_limit_window_waits_or_stops_honestly(fresh: Boxes, tmp_path: Path) -> None:
    seeded = fresh.stripe.seed(customers=40, charges_per_customer=3, random_seed=7)
    settings = settings_for(fresh, f"sqlite:///{tmp_path}/db.sqlite")
    p = parts(settings)
    try:
        # a long window: the run waits up to max_wait, then stops; never a success
        sink = _FaultInTheMiddle(fresh, count=1000)
        options = BackfillOptions(
            rate=500, workdir=tmp_path / "bf", job_size=100, rate_limit_pause=0.2, max_wait=0.7
        )
        stopped = p.backfill(options, sink)
        assert stopped.status == "stopped" and stopped.exit_code != 0
        assert "REQUEST_LIMIT_EXCEEDED" in stopped.message
        assert any("retrying" in n for n in sink.notes), "it waited before stopping"
        assert stopped.tallies["customers"].created == 80
        latest = p.runtime.engine
        with latest.connect() as conn:
            [status] = conn.execute(select(backfill_runs.c.status)).scalars().all()
        assert status == "stopped"
        assert len(records(fresh, "Stripe_Payment__c")) < seeded["charges"]

        # the window closes after two refusals: the resumed run waits it out and finishes
        fresh.salesforce.clear_faults()
        sink = _FaultInTheMiddle(fresh, count=2)
        options.max_wait = 30
        resumed = p.backfill(options, sink)
        assert resumed.resumed and resumed.status == "succeeded", resumed.message
        assert any("REQUEST_LIMIT_EXCEEDED" in n for n in sink.notes)
        charge_ids = Counter(r["Stripe_Charge_Id__c"] for r in records(fresh, "Stripe_Payment__c"))
        assert len(charge_ids) == seeded["charges"] and set(charge_ids.values()) == {1}
        assert len(_linked(fresh)) == 40
    finally:
        p.close()


class _Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)


def test_stripe_rate_limit_is_waited_out_and_nothing_is_lost(fresh: Boxes, tmp_path: Path) -> None:
    """The Stripe sandbox allows 2 requests a second, far below the backfill's own pace: the
    429s are waited out and the run completes with every record."""
    seeded = fresh.stripe.seed(customers=30, charges_per_customer=3, random_seed=5)
    p = parts(settings_for(fresh, f"sqlite:///{tmp_path}/db.sqlite"))
    progress = _Notes()
    fresh.stripe.settings(api_rate_limit=2)
    try:
        options = BackfillOptions(rate=500, workdir=tmp_path / "bf", job_size=100)
        result = p.backfill(options, progress)
    finally:
        fresh.stripe.settings(api_rate_limit=0)
        p.close()
    assert result.status == "succeeded" and result.exit_code == 0, result.message
    assert any(n.startswith("Stripe rate limit: waiting") for n in progress.notes)
    assert len(records(fresh, "Stripe_Payment__c")) == seeded["charges"]
    linked = _linked(fresh)
    assert len(linked) == 30 and set(linked.values()) == {1}


def test_records_salesforce_refuses_are_reported_in_the_csv_and_the_run_is_no_success(
    fresh: Boxes, tmp_path: Path
) -> None:
    fresh.stripe.seed(customers=5, charges_per_customer=1, random_seed=9)
    # an address Salesforce refuses (no dot in the domain; a name too long would now be cut)
    bad = fresh.stripe.client().v1.customers.create({"email": "bad@address", "name": "Nat Bad"})
    p = parts(settings_for(fresh, f"sqlite:///{tmp_path}/db.sqlite"))
    try:
        result = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf"))
    finally:
        p.close()
    assert result.status == "completed_with_failures" and result.exit_code == 1
    assert result.tallies["customers"].failed >= 1
    assert result.failures_csv is not None
    rows = result.failures_csv.read_text().splitlines()
    assert rows[0] == "stripe_id,phase,sobject,external_id,code,error"
    assert any(bad.id in row and "INVALID_EMAIL_ADDRESS" in row for row in rows[1:]), rows
    assert len(_linked(fresh)) == 6  # its Account is written; its Contact is what failed


def test_pipelined_batches_stop_and_resume_without_duplicates(fresh: Boxes, tmp_path: Path) -> None:
    """Small chunks and jobs: several batches per phase, one executing while the next is
    planned. A rate-limit window that outlasts max_wait stops the run from the writer thread;
    the resumed run writes every record once and counts every object once."""
    seeded = fresh.stripe.seed(customers=45, charges_per_customer=3, random_seed=11)
    p = parts(settings_for(fresh, f"sqlite:///{tmp_path}/db.sqlite"))
    try:
        sink = _FaultInTheMiddle(fresh, count=1000)
        options = BackfillOptions(
            rate=500,
            workdir=tmp_path / "bf",
            job_size=60,  # Bulk API 2.0 jobs (threshold 50), 2-3 per phase
            chunk=10,
            rate_limit_pause=0.2,
            max_wait=0.5,
        )
        stopped = p.backfill(options, sink)
        assert stopped.status == "stopped", stopped.message
        assert stopped.tallies["customers"].objects == 45
        assert stopped.tallies["customers"].created == 90
        assert stopped.tallies["charges"].objects == 0  # its first batch never landed

        fresh.salesforce.clear_faults()
        resumed = p.backfill(options, NullProgress())
        assert resumed.resumed and resumed.status == "succeeded", resumed.message
        for phase, count in (("customers", 45), ("charges", seeded["charges"])):
            assert resumed.tallies[phase].objects == count, phase
        assert resumed.tallies["charges"].created == seeded["charges"]
        charge_ids = Counter(r["Stripe_Charge_Id__c"] for r in records(fresh, "Stripe_Payment__c"))
        assert len(charge_ids) == seeded["charges"] and set(charge_ids.values()) == {1}
        linked = _linked(fresh)
        assert len(linked) == 45 and set(linked.values()) == {1}
        contacts = Counter(c["Stripe_Customer_Id__c"] for c in records(fresh, "Contact"))
        assert len(contacts) == 45 and set(contacts.values()) == {1}
    finally:
        p.close()
