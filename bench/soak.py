"""Fault soak: the whole system as processes, real faults, then an independent verdict.

    .venv/bin/python bench/soak.py [--events 10000] [--workers 2] [--threads 6] [--rate 15]
                                   [--seed 7] [--drain-timeout 600] [--workdir DIR]

Starts both sandboxes (the demo's helpers), a private PostgreSQL cluster (initdb in a temporary
folder, run as the `postgres` user on a free port: restartable, never the machine's own
server), `stripe2sf serve --no-worker` and `--workers` `stripe2sf worker` processes. Existing
Contacts are seeded in Salesforce through simple-salesforce; the webhook endpoint is registered
through the Stripe API. Then:

1. traffic (soak_traffic.py): concurrent stripe SDK stories until about `--events` Stripe
   events exist;
2. chaos (soak_chaos.py): the fault schedule through both control planes while traffic runs,
   a worker SIGKILLed and restarted, PostgreSQL crash-restarted; a supervisor restarts any
   process that dies on its own and reports it;
3. settle: faults off, `stripe2sf catch-up`, wait until `stripe2sf status --json` shows an
   empty inbox and Stripe has nothing left to deliver;
4. verdict (soak_verify.py): stripe SDK + SOQL only, plus the inbox for events never stored.

Prints lost / duplicated / drifted / dead-lettered / undrained counts with examples and, last,
one JSON line. Exit 0 only when all are zero; 1 otherwise; 2 when the harness itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stripe
from rich.console import Console
from simple_salesforce import Salesforce

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak_chaos import Chaos, SalesforceControl, StripeControl
from soak_pg import PgCluster, stable_port
from soak_traffic import EmailBook, Traffic
from soak_two_way import RepStory
from soak_verify import Verdict, Verifier
from stripe2sf.demo.processes import ProcessGroup, script
from stripe2sf.demo.run import (
    SF_PASSWORD,
    SF_TOKEN,
    SF_USER,
    STRIPE_KEY,
    Endpoints,
    register_webhook,
    start_sandboxes,
)

EXISTING_CONTACTS = 12


@dataclass
class System:
    """The processes of one soak and what it takes to kill and restart them."""

    workdir: Path
    workers: int
    procs: ProcessGroup = field(init=False)
    pg: PgCluster = field(init=False)
    ends: Endpoints | None = None
    env: dict[str, str] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)  # role -> name in procs
    argv: dict[str, list[str]] = field(default_factory=dict)
    role_env: dict[str, dict[str, str]] = field(default_factory=dict)
    expected_down: set[str] = field(default_factory=set)
    unexpected_exits: list[str] = field(default_factory=list)
    restarts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.procs = ProcessGroup(self.workdir / "logs")
        self.pg = PgCluster(self.workdir / "pg", stable_port())

    def start_database(self) -> None:
        self.pg.init()
        self.pg.start()
        self.pg.create_database()

    def start_role(self, role: str) -> None:
        with self._lock:
            n = sum(1 for name in self.procs.procs if name.split("~")[0] == role)
            name = role if n == 0 else f"{role}~{n}"
            self.procs.start(name, self.argv[role], env={**self.env, **self.role_env.get(role, {})})
            self.current[role] = name

    def start_stripe2sf(self, secret: str) -> None:
        assert self.ends is not None
        self.env = {
            **self.ends.env,
            "STRIPE2SF_DATABASE_URL": self.pg.url(),
            "STRIPE_WEBHOOK_SECRET": secret,
            "STRIPE2SF_CATCHUP_SECONDS": "30",
            "STRIPE2SF_LEASE_SECONDS": "15",
            "STRIPE2SF_RETRY_BASE_SECONDS": "1",
            # After REQUEST_LIMIT_EXCEEDED stripe2sf pauses its Salesforce calls (default
            # 300 s, for the daily limit); the soak's limit window lasts 15 s.
            "STRIPE2SF_BUDGET_PAUSE_SECONDS": "20",
        }
        port = self.ends.service.rsplit(":", 1)[1]
        self.argv["serve"] = [script("stripe2sf"), "serve", "--no-worker", "--port", port]
        # Salesforce changes are captured by their own process (it can be SIGKILLed alone)
        self.role_env["serve"] = {"STRIPE2SF_CAPTURE": "off"}
        self.start_role("serve")
        self.procs.wait_ready("serve", self.ends.service + "/readyz", timeout=120)
        for i in range(1, self.workers + 1):
            self.argv[f"worker-{i}"] = [script("stripe2sf"), "worker"]
            self.start_role(f"worker-{i}")
        self.argv["capture"] = [script("stripe2sf"), "capture"]
        self.start_role("capture")
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()

    def _supervise(self) -> None:
        """What systemd would do: restart a process that died, and remember it did."""
        while not self._stop.wait(1.0):
            for role, name in list(self.current.items()):
                proc = self.procs.procs[name]
                if proc.poll() is None or role in self.expected_down:
                    continue
                log = (self.procs.log_dir / f"{name}.log").read_text(errors="replace")
                tail = " | ".join(log.strip().splitlines()[-3:])[-400:]
                self.unexpected_exits.append(f"{name} exited {proc.returncode}: {tail}")
                print(f"  supervisor: {name} exited {proc.returncode}; restarting", flush=True)
                self.start_role(role)

    def kill_worker(self, role: str = "worker-1") -> str:
        name = self.current[role]
        self.expected_down.add(role)
        os.killpg(self.procs.procs[name].pid, signal.SIGKILL)
        self.procs.procs[name].wait()
        time.sleep(3)
        self.start_role(role)
        self.expected_down.discard(role)
        self.restarts += 1
        return f"{name} killed, {self.current[role]} started"

    def kill_capture(self) -> str:
        return self.kill_worker("capture")

    def restart_postgres(self) -> str:
        down = self.pg.restart("immediate", down_seconds=2.0)
        return f"PostgreSQL back after {down:.1f} s"

    def stripe2sf(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script("stripe2sf"), *args],
            env={**os.environ, **self.env},
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        self._stop.set()
        self.procs.stop_all()
        try:
            self.pg.stop("fast")
        except Exception as exc:  # already down: nothing to stop
            print(f"  (PostgreSQL stop: {exc})")


def rep_size(args: argparse.Namespace) -> int:
    """The sales rep's customers: 8 in a short soak, up to 40 in a long one."""
    return int(args.rep_customers or max(8, min(40, args.events // 120)))


def salesforce_client(ends: Endpoints) -> Salesforce:
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = str(ends.ca_path)
    host_port = ends.salesforce.split("://", 1)[1]
    return Salesforce(
        username=SF_USER,
        password=SF_PASSWORD,
        security_token=SF_TOKEN,
        domain=f"{host_port}/login",
        session=session,
    )


def seed_contacts(sf: Salesforce, n: int) -> tuple[list[str], list[str]]:
    """Accounts with a billing Contact each, as a sales team would have them: emails some
    Stripe customers will use. Returns (emails, contact ids)."""
    emails, ids = [], []
    for k in range(n):
        account = sf.Account.create({"Name": f"Existing Customer {k}"})
        email = f"billing{k}@existing-{k}.soak.example"
        contact = sf.Contact.create(
            {
                "FirstName": "Billing",
                "LastName": f"Existing {k}",
                "Email": email,
                "AccountId": account["id"],
            }
        )
        emails.append(email)
        ids.append(str(contact["id"]))
    return emails, ids


def wait_drained(system: System, stripe_ctl: StripeControl, timeout: float) -> dict[str, Any]:
    """Until Stripe has nothing left to deliver and `stripe2sf status --json` shows no pending
    event, twice in a row."""
    deadline = time.monotonic() + timeout
    stable, last = 0, {}
    while time.monotonic() < deadline:
        stripe_ctl.retry_deliveries()
        idle = stripe_ctl.wait_idle(timeout=30)
        pending_deliveries = stripe_ctl.stats()["deliveries"].get("pending", 0)
        done = system.stripe2sf("status", "--json", timeout=120)
        try:
            last = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            last = {"error": (done.stdout + done.stderr)[-300:]}
        pending = last.get("inbox", {}).get("pending", -1)
        if idle and pending_deliveries == 0 and pending == 0:
            stable += 1
            if stable >= 2:
                return last
        else:
            stable = 0
        time.sleep(2)
    print(f"  not drained after {timeout:.0f} s: {last}", flush=True)
    return last


def api_calls(sf_ctl: SalesforceControl) -> int:
    """Salesforce API calls so far, without the `/limits` reads of our status polls."""
    snapshot = sf_ctl.requests()
    limits = sum(n for endpoint, n in snapshot["by_endpoint"].items() if "limits" in endpoint)
    return int(snapshot["api_calls"]) - int(limits)


def freeze_sources(workdir: Path) -> Path:
    """Run the system under test from a copy of `src/` taken now: a worker restarted mid-run
    (the SIGKILL step) must not load code edited in the tree since the soak started."""
    snapshot = workdir / "src"
    shutil.copytree(
        Path(__file__).resolve().parent.parent / "src",
        snapshot,
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(snapshot), os.environ.get("PYTHONPATH", "")) if p
    )
    return snapshot


def run(args: argparse.Namespace, workdir: Path) -> tuple[Verdict, dict[str, Any]]:
    console = Console()
    system = System(workdir, args.workers)
    try:
        console.print(
            f"soak in {workdir}; stripe2sf and the sandboxes run from {freeze_sources(workdir)}"
        )
        system.start_database()
        # two_way: [salesforce_to_stripe], [actions], Contact.Email create_only, the metadata
        # with the CDC channel members, the Pub/Sub API on (as the demo runs)
        system.ends = ends = start_sandboxes(system.procs, workdir, console, two_way=True)
        stripe_ctl = StripeControl(ends.stripe_api)
        sf_ctl = SalesforceControl(ends.salesforce, ends.ca_path)
        sf = salesforce_client(ends)
        existing, seeded_ids = seed_contacts(sf, EXISTING_CONTACTS)
        client = stripe.StripeClient(
            STRIPE_KEY, base_addresses={"api": ends.stripe_api}, max_network_retries=5
        )
        secret = register_webhook(client, ends.service)
        system.start_stripe2sf(secret)
        console.print(f"  PostgreSQL {system.pg.url()}; serve + {args.workers} workers up")
        sf_ctl.call("DELETE", "requests")
        stripe_ctl.faults(seed=args.seed)

        traffic = Traffic(
            ends.stripe_api,
            STRIPE_KEY,
            EmailBook(existing, random.Random(args.seed)),
            events_now=lambda: int(stripe_ctl.stats()["events"]),
            target=args.events,
            threads=args.threads,
            seed=args.seed,
            rate=args.rate,
        )
        traffic.setup()
        rep = RepStory(ends, sf, traffic.client, rep_size(args), args.seed)
        chaos = Chaos(
            stripe_ctl,
            sf_ctl,
            traffic.progress,
            {
                "kill_worker": system.kill_worker,
                "kill_capture": system.kill_capture,
                "restart_postgres": system.restart_postgres,
                "pubsub_abort": sf_ctl.abort_pubsub,
                "cdc_gaps": sf_ctl.cdc_gaps,
            },
        )
        t0 = time.monotonic()
        chaos.start()
        rep.start(traffic.progress)
        traffic.run()
        rep.join()
        traffic_s = time.monotonic() - t0
        console.print(f"  traffic done: {traffic.events_seen} Stripe events in {traffic_s:.0f} s")
        console.print(f"  traffic: {dict(traffic.done)}; emails {dict(traffic.book.kinds)}")
        console.print(f"  sales rep: {dict(rep.done)}")
        chaos.finish()
        time.sleep(3)  # the capture's last changes: stored within a second of their commit
        system.pg.ensure_up()  # whatever happened to the chaos step, verify against the data

        stripe_ctl.retry_deliveries()
        stripe_ctl.wait_idle(timeout=120)
        catchup = system.stripe2sf("catch-up")
        catchup_out = (catchup.stdout + catchup.stderr).strip()
        console.print(f"  catch-up exit {catchup.returncode}: {catchup_out[-300:]}")
        status = wait_drained(system, stripe_ctl, args.drain_timeout)
        duration = time.monotonic() - t0
        calls = api_calls(sf_ctl)
        console.print(f"  settled in {duration - traffic_s:.0f} s; status {status.get('inbox')}")

        verdict = Verifier(client, sf, seeded_ids, system.pg.dsn(), rep).run()
        counts = verdict.counts()
        figures = {
            "benchmark": "soak",
            "events": verdict.stripe_events,
            "handled_events": verdict.handled_events,
            "duration_s": round(duration, 1),
            "traffic_s": round(traffic_s, 1),
            "settle_s": round(duration - traffic_s, 1),
            "events_per_s": round(verdict.stripe_events / duration, 1) if duration else None,
            **counts,
            "by_direction": verdict.by_direction(),
            "two_way": verdict.two_way,
            "events_never_stored": verdict.events_never_stored,
            "by_check": verdict.by_check(),
            "salesforce_api_calls": calls,
            "api_calls_per_event": round(calls / max(1, verdict.handled_events), 3),
            "workers": args.workers,
            "seed": args.seed,
            "catchup_exit": catchup.returncode,
            "unexpected_exits": len(system.unexpected_exits),
            "traffic_failures": sum(n for k, n in traffic.done.items() if k.startswith("story")),
            "rep_failures": sum(n for k, n in rep.done.items() if k.endswith("failed")),
        }
        console.print("  chaos: " + "; ".join(line.split("  ", 1)[-1] for line in chaos.log))
        for problem in chaos.errors + traffic.errors[:5] + rep.errors[:8]:
            console.print(f"  [yellow]harness note:[/yellow] {problem}")
        for exit_note in system.unexpected_exits:
            console.print(f"  [red]unexpected exit:[/red] {exit_note}")
        if catchup.returncode != 0:
            console.print(f"  [red]catch-up failed[/red]: {catchup_out[-800:]}")
        return verdict, figures
    finally:
        system.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="target Stripe events")
    parser.add_argument("--workers", type=int, default=2, help="stripe2sf worker processes")
    parser.add_argument("--threads", type=int, default=6, help="concurrent traffic stories")
    parser.add_argument("--rate", type=float, default=15, help="Stripe events/s (0: no limit)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--rep-customers", type=int, default=0, help="the sales rep's customers (0: by --events)"
    )
    parser.add_argument("--drain-timeout", type=float, default=600)
    parser.add_argument("--workdir", type=Path, default=None, help="kept; else a temp folder")
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="soak-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        verdict, figures = run(args, workdir)
    except Exception:
        traceback.print_exc()
        print(f"soak harness failed; logs in {workdir / 'logs'}")
        print(json.dumps({"benchmark": "soak", "error": "harness failed", "workdir": str(workdir)}))
        return 2
    verdict.print()
    if verdict.clean and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs in {workdir / 'logs'}")
    print(json.dumps(figures))
    return 0 if verdict.clean else 1


if __name__ == "__main__":
    sys.exit(main())
