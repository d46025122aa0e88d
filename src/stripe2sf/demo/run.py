"""The demo's orchestration: processes, seed data, webhook endpoint, scenario, summary.

stripe2sf never imports a sandbox: the sandboxes run as processes from their console scripts
and are reached over HTTP, as the real services would be. stripe2sf runs as the org's
least-privileged integration user with the Stripe2sf_Integration permission set, which the
administrator assigns once the metadata is deployed (`integration_user`); `stripe2sf doctor`
checks that user's access before `serve` starts.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import stripe
from rich.console import Console

from stripe2sf.demo.access import (
    dashboard_line,
    print_unwrapped,
    shown_path,
    use_instruction,
    write_env_file,
)
from stripe2sf.demo.integration_user import (
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    ADMIN_USER,
    INTEGRATION_USER,
    assign_permission_set,
    login_env,
)
from stripe2sf.demo.processes import (
    Endpoints,
    ProcessGroup,
    free_port,
    script,
    stop_on_signals,
)
from stripe2sf.demo.scenario import ScenarioReport, ScenarioSpec, make_history, play
from stripe2sf.demo.seed import SeededOrg, seed_salesforce
from stripe2sf.demo.summary import Summary, check_reconcile, summarize
from stripe2sf.demo.two_way import (
    DEAL_COMPANY,
    after_corrections,
    capture_env,
    captured_changes,
    check_two_way,
    config_toml,
    play_two_way,
    seed_deal,
)
from stripe2sf.demo.variations import OrgPlan, plan_org
from stripe2sf.domain.config import SyncConfig, from_mapping
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.metadata_files import write_metadata
from stripe2sf.settings import read_config_file
from stripe2sf.store.db import make_engine
from stripe2sf.store.inbox import Inbox
from stripe2sf.web.dashboard.auth import hash_password

STRIPE_KEY = "sk_test_stripe2sf_demo_0000000000"
# the org administrator's login (seeding; the benchmarks' own Salesforce checks)
SF_USER = ADMIN_USER
SF_PASSWORD = ADMIN_PASSWORD
SF_TOKEN = ADMIN_TOKEN
DASHBOARD_USER = "demo"


@dataclass
class DemoOptions:
    customers: int = 24
    months: int = 3
    seed: int = 7
    workdir: Path = Path("var/demo")
    exit_after: bool = False
    # the Stripe account's and its webhook endpoint's API version (None: today's)
    stripe_version: str | None = None
    # the kind of Salesforce org (`demo.variations`; empty: business, single currency, no rules)
    org: tuple[str, ...] = ()


def write_config(
    workdir: Path, plan: OrgPlan, two_way: bool = False
) -> tuple[Path | None, SyncConfig | None]:
    """The variation's stripe2sf.toml in `workdir` (with `two_way`, the Salesforce -> Stripe
    sections added) and the sync configuration stripe2sf reads from it (as
    `runtime.load_sync_config` does); (None, None) when the demo needs none."""
    text = config_toml(plan.config_toml) if two_way else plan.config_toml
    if text is None:
        return None, None
    path = workdir / "stripe2sf.toml"
    path.write_text(text, encoding="utf-8")
    doc = read_config_file(path)
    doc.pop("settings", None)
    return path, from_mapping(doc)


def prepare_org(salesforce: str, ca_path: Path, plan: OrgPlan) -> None:
    """What the org's administrator has set up before stripe2sf comes: the duplicate rules
    and the rules deployed as metadata (through the sandbox's control plane)."""
    with httpx.Client(base_url=salesforce, verify=str(ca_path), timeout=60) as client:
        if plan.standard_duplicate_rules:
            client.post("/_sandbox/duplicate-rules/standard", json={}).raise_for_status()
        if plan.admin_metadata:
            answer = client.post("/_sandbox/deploy", json={"files": plan.admin_metadata})
            if answer.status_code >= 300:
                raise RuntimeError(
                    f"deploying the org's rules failed: {answer.status_code} {answer.text[:800]}"
                )


def start_sandboxes(
    procs: ProcessGroup,
    workdir: Path,
    console: Console,
    stripe_version: str | None = None,
    org: OrgPlan | None = None,
    two_way: bool = False,
) -> Endpoints:
    """Both sandboxes as processes and the settings that point stripe2sf at them. With
    `two_way` the configuration turns on Salesforce -> Stripe and the settings Change Data
    Capture from the Salesforce sandbox's Pub/Sub API (`demo.two_way`)."""
    plan = org or OrgPlan()
    config_path, config = write_config(workdir, plan, two_way)
    metadata = workdir / "metadata"
    write_metadata(metadata, config)
    sf_port, stripe_port, service_port = free_port(8701), free_port(8702), free_port(8700)
    if len({sf_port, stripe_port, service_port}) < 3:
        service_port = free_port(0)
    pubsub_port = free_port(8703) if two_way else 0
    sf_data = workdir / "salesforce"
    procs.start(
        "salesforce-sandbox",
        [
            script("salesforce-sandbox"),
            "--port",
            str(sf_port),
            "--data",
            str(sf_data),
            "--metadata",
            str(metadata),
            "--pubsub-port",
            str(pubsub_port),
            *plan.sandbox_args,
        ],
    )
    stripe_args = [script("stripe-sandbox"), "--port", str(stripe_port)]
    stripe_args += ["--data", str(workdir / "stripe")]
    if stripe_version:
        stripe_args += ["--api-version", stripe_version]
    procs.start("stripe-sandbox", stripe_args)
    stripe_api = f"http://127.0.0.1:{stripe_port}"
    salesforce = f"https://127.0.0.1:{sf_port}"
    procs.wait_ready("stripe-sandbox", stripe_api + "/_sandbox/health")
    procs.wait_ready("salesforce-sandbox", salesforce + "/_sandbox", verify=False)
    ca_path = sf_data / "ca.pem"
    console.print(f"  Stripe sandbox      {stripe_api}")
    console.print(f"  Salesforce sandbox  {salesforce}  (CA {ca_path})")
    if plan.variations:
        prepare_org(salesforce, ca_path, plan)
        console.print(f"  Salesforce org      {plan.label}")
    assign_permission_set(salesforce, ca_path)
    console.print(
        f"  stripe2sf runs as   {INTEGRATION_USER} (Stripe2sf_Integration assigned by the "
        "admin; JWT bearer login)"
    )
    database_url = f"sqlite:///{(workdir / 'stripe2sf.db').resolve()}"
    env = {
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_API_BASE": stripe_api,
        **login_env(salesforce, sf_data),
        "STRIPE2SF_DATABASE_URL": database_url,
        "STRIPE2SF_RETRY_BASE_SECONDS": "1",
        # the address the webhook endpoint is registered with: doctor checks it points here
        "STRIPE2SF_PUBLIC_URL": f"http://127.0.0.1:{service_port}",
    }
    if config_path is not None:
        env["STRIPE2SF_CONFIG"] = str(config_path)
    if two_way:
        env.update(capture_env(pubsub_port))
    return Endpoints(
        stripe_api,
        salesforce,
        f"http://127.0.0.1:{service_port}",
        ca_path,
        database_url,
        env,
    )


def register_webhook(
    client: stripe.StripeClient, service_url: str, api_version: str | None = None
) -> str:
    params: Any = {"url": service_url + "/webhooks/stripe", "enabled_events": sorted(HANDLED_TYPES)}
    if api_version:
        params["api_version"] = api_version  # its events come in that version's shape
    endpoint = client.v1.webhook_endpoints.create(params)
    secret = endpoint.secret
    if not secret:
        raise RuntimeError("the webhook endpoint came back without a signing secret")
    return secret


def service_env(ends: Endpoints, secret: str, password: str) -> dict[str, str]:
    """Every setting `stripe2sf serve` runs with in the demo (also written to stripe2sf.env)."""
    users = f"{DASHBOARD_USER}:operator:{hash_password(password)}"
    return {**ends.env, "STRIPE_WEBHOOK_SECRET": secret, "STRIPE2SF_DASHBOARD_USERS": users}


def start_service(procs: ProcessGroup, ends: Endpoints, secret: str, password: str) -> None:
    port = ends.service.rsplit(":", 1)[1]
    procs.start(
        "stripe2sf",
        [script("stripe2sf"), "serve", "--port", port],
        env=service_env(ends, secret, password),
    )
    procs.wait_ready("stripe2sf", ends.service + "/readyz", timeout=90)


def backfill(ends: Endpoints, workdir: Path) -> None:
    """`stripe2sf backfill` as a user runs it, before the service starts listening."""
    done = subprocess.run(
        [script("stripe2sf"), "backfill"],
        env={**os.environ, **ends.env},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"backfill failed ({done.returncode}): {done.stdout[-1500:]}")


def doctor(ends: Endpoints, secret: str, workdir: Path) -> tuple[bool, list[str]]:
    """`stripe2sf doctor` as the operator runs it before going live, as the integration user:
    (passed, the failed checks with their fixes). Its output goes to `doctor.txt`."""
    done = subprocess.run(
        [script("stripe2sf"), "doctor"],
        env={**os.environ, **ends.env, "STRIPE_WEBHOOK_SECRET": secret, "COLUMNS": "200"},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (workdir / "doctor.txt").write_text(done.stdout + done.stderr, encoding="utf-8")
    lines = done.stdout.splitlines()
    failed = [
        line.strip() + (" " + lines[i + 1].strip() if i + 1 < len(lines) else "")
        for i, line in enumerate(lines)
        if line.startswith("FAIL")
    ]
    if done.returncode != 0 and not failed:
        failed = [f"doctor exited {done.returncode}: {(done.stdout + done.stderr)[-500:]}"]
    return done.returncode == 0, failed


def wait_drained(ends: Endpoints, timeout: float = 600) -> dict[str, int]:
    """Until Stripe has delivered everything and the inbox has nothing pending."""
    httpx.post(ends.stripe_api + "/_sandbox/wait_idle", json={"timeout": 120}, timeout=150)
    inbox = Inbox(make_engine(ends.database_url))
    deadline = time.monotonic() + timeout
    stable = 0
    while time.monotonic() < deadline:
        counts = inbox.counts()
        stable = stable + 1 if counts["pending"] == 0 else 0
        if stable >= 3:
            inbox.engine.dispose()
            return counts
        time.sleep(0.5)
    inbox.engine.dispose()
    raise RuntimeError(f"the inbox did not drain within {timeout:.0f} s: {counts}")


def run_demo(options: DemoOptions, console: Console) -> Summary:
    workdir = options.workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    procs = ProcessGroup(workdir / "logs")
    with stop_on_signals():
        try:
            return _run(options, console, workdir, procs)
        finally:
            procs.stop_all()


def _run(options: DemoOptions, console: Console, workdir: Path, procs: ProcessGroup) -> Summary:
    console.rule("stripe2sf demo")
    with console.status("starting the Stripe and Salesforce sandboxes"):
        ends = start_sandboxes(
            procs, workdir, console, options.stripe_version, plan_org(options.org), two_way=True
        )
    if options.stripe_version:
        console.print(f"  Stripe API version  {options.stripe_version} (account and webhooks)")
    with console.status("seeding Salesforce with existing Accounts, Contacts and owners"):
        org: SeededOrg = seed_salesforce(ends.salesforce, ends.ca_path)
    console.print(
        f"  seeded {len(org.accounts)} Accounts, {len(org.contacts)} Contacts, "
        f"{len(org.users)} sales users and the '{org.queue_name}' queue"
    )
    client = stripe.StripeClient(
        STRIPE_KEY, base_addresses={"api": ends.stripe_api}, max_network_retries=2
    )
    deal = seed_deal(client, ends, org)
    console.print(f"  seeded an open Opportunity with a Stripe price ({DEAL_COMPANY})")
    with console.status("creating Stripe history from before stripe2sf") as status:
        history = make_history(client, max(2, options.customers // 4), lambda m: status.update(m))
    with console.status("backfilling that history"):
        backfill(ends, workdir)
    console.print(f"  backfilled {len(history)} customers with their payments and subscriptions")
    secret = register_webhook(client, ends.service, options.stripe_version)
    with console.status(f"stripe2sf doctor as {INTEGRATION_USER}"):
        doctor_ok, doctor_failed = doctor(ends, secret, workdir)
    console.print(
        f"  stripe2sf doctor    {'passed' if doctor_ok else 'FAILED'} as {INTEGRATION_USER} "
        f"({workdir / 'doctor.txt'})"
    )
    for line in doctor_failed:
        console.print(f"    [red]{line}[/red]")
    password = secrets.token_urlsafe(12)
    with console.status("starting stripe2sf serve"):
        start_service(procs, ends, secret, password)
    env_file = write_env_file(workdir, service_env(ends, secret, password))
    console.print(f"  stripe2sf           {ends.service}  (settings: {shown_path(env_file)})")
    print_unwrapped(console, dashboard_line(ends.service, DASHBOARD_USER, password))
    spec = ScenarioSpec(
        customers=options.customers,
        months=options.months,
        seed=options.seed,
        existing_emails=org.matching_emails,
        ambiguous_email=org.ambiguous_email,
    )
    with console.status("playing the scenario on test clocks") as status:
        report: ScenarioReport = play(client, spec, lambda m: status.update(m))
    with console.status("waiting until every event is synced"):
        wait_drained(ends)
    with console.status("Salesforce -> Stripe: sales reps at work") as status:
        two_way = play_two_way(client, ends, org, deal, lambda m: status.update(m))
        counts = wait_drained(ends)
    report.customers = history + report.customers
    summary = summarize(
        client, ends, report, after_corrections(org, two_way), counts, captured_changes(ends)
    )
    check_two_way(summary, client, ends, two_way)
    summary.check(
        f"stripe2sf doctor passes as {INTEGRATION_USER}",
        doctor_ok,
        "; ".join(doctor_failed) + f" (see {workdir / 'doctor.txt'})",
    )
    with console.status("reconciling Stripe and Salesforce"):
        check_reconcile(summary, ends, workdir)
    summary.print(console)
    summary.write(workdir / "summary.json")
    console.print(
        f"\nThe settings the demo used are in {shown_path(env_file)}. To point stripe2sf at the "
        "demo (status, audit; reconcile while it runs), load them in a POSIX shell:"
    )
    print_unwrapped(console, f"  {use_instruction(env_file)}")
    if options.exit_after:
        return summary
    console.print(
        f"\nRunning: metrics {ends.service}/metrics, Stripe {ends.stripe_api}, "
        f"Salesforce {ends.salesforce}."
    )
    print_unwrapped(console, dashboard_line(ends.service, DASHBOARD_USER, password))
    console.print("Press Ctrl-C to stop.")
    try:
        while all(p.poll() is None for p in procs.procs.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    return summary
