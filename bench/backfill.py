"""Benchmark `stripe2sf backfill`: a seeded Stripe history into an empty Salesforce org.

Starts `stripe-sandbox` and `salesforce-sandbox` as processes (stripe2sf's metadata deployed),
seeds Stripe with N customers, M charges and K subscriptions per customer (and their paid first
invoices), then runs `stripe2sf backfill` as a process and measures:

* seconds (wall clock of the backfill process), and its peak memory (RSS),
* Salesforce API calls, read from the Salesforce sandbox's request counts;
* the same history written one record per REST call, as a naive integration would, on a
  sample of customers: its API calls per record, and the ratio to the backfill's.

Goals: under 10 minutes, under 300 MB, under 300 Salesforce API calls for 100,000 customers,
300,000 charges and 100,000 subscriptions. The last line printed is JSON.

    .venv/bin/python bench/backfill.py [--customers 100000] [--charges 3] [--subscriptions 1]
        [--sample 200] [--rate 200] [--job-size 25000] [--objects ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stripe2sf.demo.processes import ProcessGroup, free_port, script  # noqa: E402
from stripe2sf.domain.backfill.plan import PHASES, parse_objects  # noqa: E402
from stripe2sf.domain.batch.calls import batch  # noqa: E402
from stripe2sf.domain.config import default_config  # noqa: E402
from stripe2sf.engine.backfill import Backfill, BackfillOptions  # noqa: E402
from stripe2sf.metadata_files import write_metadata  # noqa: E402
from stripe2sf.runtime import Runtime  # noqa: E402
from stripe2sf.salesforce.client import connect  # noqa: E402
from stripe2sf.settings import load_settings  # noqa: E402
from stripe2sf.store.staging import Staging  # noqa: E402

STRIPE_KEY = "sk_test_stripe2sf_bench_000000000"


def start(workdir: Path) -> tuple[ProcessGroup, dict[str, str], str, str, Path]:
    metadata = workdir / "metadata"
    write_metadata(metadata)
    procs = ProcessGroup(workdir / "logs")
    sf_port, st_port = free_port(0), free_port(0)
    procs.start(
        "salesforce-sandbox",
        [
            script("salesforce-sandbox"),
            "--port",
            str(sf_port),
            "--data",
            str(workdir / "salesforce"),
            "--metadata",
            str(metadata),
        ],
    )
    procs.start("stripe-sandbox", [script("stripe-sandbox"), "--port", str(st_port)])
    stripe_api = f"http://127.0.0.1:{st_port}"
    salesforce = f"https://127.0.0.1:{sf_port}"
    procs.wait_ready("stripe-sandbox", stripe_api + "/_sandbox/health")
    procs.wait_ready("salesforce-sandbox", salesforce + "/_sandbox", verify=False)
    ca = workdir / "salesforce" / "ca.pem"
    env = {
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_API_BASE": stripe_api,
        "SALESFORCE_LOGIN_URL": salesforce,
        "SALESFORCE_USERNAME": "admin@sandbox.example.com",
        "SALESFORCE_PASSWORD": "sandbox-password",
        "SALESFORCE_SECURITY_TOKEN": "SANDBOXTOKEN",
        "SALESFORCE_CA_BUNDLE": str(ca),
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{workdir / 'stripe2sf.db'}",
    }
    return procs, env, stripe_api, salesforce, ca


def sf_control(salesforce: str, ca: Path, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method, f"{salesforce}/_sandbox/{path}", json=body, verify=str(ca), timeout=600
    )
    response.raise_for_status()
    return response.json()


def naive_sample(
    env: dict[str, str], workdir: Path, sample: int, phases: tuple[str, ...]
) -> dict[str, Any]:
    """Plan the first `sample` customers' history and send every record in its own REST call
    (an upsert by external id), the way a naive integration would."""
    settings = load_settings(
        database_url=f"sqlite:///{workdir / 'naive.db'}",
        stripe_api_key=env["STRIPE_API_KEY"],
        stripe_api_base=env["STRIPE_API_BASE"],
        salesforce_login_url=env["SALESFORCE_LOGIN_URL"],
        salesforce_username=env["SALESFORCE_USERNAME"],
        salesforce_password=env["SALESFORCE_PASSWORD"],
        salesforce_security_token=env["SALESFORCE_SECURITY_TOKEN"],
        salesforce_ca_bundle=Path(env["SALESFORCE_CA_BUNDLE"]),
    )
    runtime = Runtime.build(settings, registry=None)
    client = connect(settings)
    reader = runtime.stripe_reader()
    assert reader is not None
    job = Backfill(
        runtime.engine,
        reader,
        client,
        default_config(),
        BackfillOptions(objects=phases, rate=1000, workdir=workdir / "naive"),
    )
    staging = Staging(workdir / "naive" / "sample.sqlite")
    customers, _ = reader.list_page("customers", {"limit": min(100, sample)})
    while len(customers) < sample:
        more, has_more = reader.list_page(
            "customers", {"limit": 100, "starting_after": customers[-1]["id"]}
        )
        customers.extend(more)
        if not has_more:
            break
    customers = customers[:sample]
    staging.put_objects("customers", customers)
    for cust in customers:
        for phase in ("subscriptions", "charges", "invoices"):
            if phase in phases:
                page, _ = reader.list_page(
                    phase,
                    {
                        "limit": 100,
                        "customer": cust["id"],
                        **({"status": "all"} if phase == "subscriptions" else {}),
                    },
                )
                staging.put_objects(phase, page)
    job._index(staging)
    before = client.usage().total_calls
    records = 0
    as_of = int(time.time())
    version = f"v{client.api_version}"
    for phase in phases:
        for obj in staging.iter_objects(phase):
            plan = job.plan_object(phase, obj, as_of, staging)
            if plan is None:
                continue
            for op in plan.operations:
                calls = batch([op], api_version=version, bulk_threshold=10**9)
                result = client.execute(calls)
                job._learn(staging, [op], result.outcomes)
                records += 1
    calls = client.usage().total_calls - before
    staging.delete()
    client.close()
    runtime.close()
    return {"sample_customers": len(customers), "records": records, "api_calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--charges", type=int, default=3, help="charges per customer")
    parser.add_argument("--subscriptions", type=int, default=1, help="per customer")
    parser.add_argument("--sample", type=int, default=200, help="customers in the naive run")
    parser.add_argument("--rate", type=float, default=200.0, help="Stripe requests/s")
    parser.add_argument("--job-size", type=int, default=25_000)
    parser.add_argument("--objects", default=",".join(PHASES))
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    phases = parse_objects(args.objects)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    procs, env, stripe_api, salesforce, ca = start(workdir)
    try:
        t0 = time.perf_counter()
        seeded = httpx.post(
            f"{stripe_api}/_sandbox/seed",
            json={
                "customers": args.customers,
                "charges_per_customer": args.charges,
                "subscriptions_per_customer": args.subscriptions,
                "random_seed": 42,
            },
            timeout=3600,
        ).json()
        print(f"seeded Stripe in {time.perf_counter() - t0:.1f} s: {seeded}", flush=True)
        sf_control(salesforce, ca, "POST", "limits", {"daily_limit": 100_000, "used": 0})
        sf_control(salesforce, ca, "DELETE", "requests")

        command = [
            script("stripe2sf"),
            "backfill",
            "--rate",
            str(args.rate),
            "--job-size",
            str(args.job_size),
            "--objects",
            ",".join(phases),
            "--workdir",
            str(workdir / "backfill"),
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, env={**os.environ, **env}, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        exit_code = os.waitstatus_to_exitcode(status)
        peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
        counts = sf_control(salesforce, ca, "GET", "requests")
        api_calls = int(counts["api_calls"])
        accounts = len(sf_control(salesforce, ca, "GET", "records/Account")["records"])
        print(
            f"backfill exit {exit_code} in {seconds:.1f} s, peak {peak_mb:.0f} MB, "
            f"{api_calls} Salesforce API calls; {accounts} Accounts",
            flush=True,
        )
        print(json.dumps(counts["by_endpoint"], indent=1), flush=True)
        records = args.customers * 2 + args.customers * args.charges
        if "subscriptions" in phases:
            records += args.customers * args.subscriptions
        if "invoices" in phases:
            records += args.customers * args.subscriptions

        sf_control(salesforce, ca, "POST", "reset", {"schema": False})
        naive = naive_sample(env, workdir, args.sample, phases)
        naive_per_record = naive["api_calls"] / max(1, naive["records"])
        ours_per_record = api_calls / max(1, records)
        ratio = naive_per_record / ours_per_record if ours_per_record else None
        print(f"naive sample: {naive}", flush=True)
        figures = {
            "benchmark": "backfill",
            "customers": args.customers,
            "charges": seeded.get("charges"),
            "subscriptions": seeded.get("subscriptions"),
            "invoices": seeded.get("invoices"),
            "objects": list(phases),
            "salesforce_records_planned": records,
            "exit_code": exit_code,
            "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_mb, 1),
            "salesforce_api_calls": api_calls,
            "naive_sample": naive,
            "naive_calls_per_record": round(naive_per_record, 3),
            "backfill_calls_per_record": round(ours_per_record, 6),
            "api_call_ratio_naive_to_backfill": round(ratio, 1) if ratio else None,
            "goals": {"seconds": 600, "peak_rss_mb": 300, "salesforce_api_calls": 300},
            "met": {
                "seconds": seconds < 600,
                "peak_rss_mb": peak_mb < 300,
                "salesforce_api_calls": api_calls < 300,
            },
            "stripe_rate": args.rate,
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
            "self_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        print(json.dumps(figures))
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
