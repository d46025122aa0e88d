"""Benchmark the Salesforce sandbox with the real simple-salesforce client.

Starts ``salesforce-sandbox`` as a separate process (in-memory org, the example SFDX metadata)
and measures:

* single-record REST calls per second (create, retrieve, update, upsert; one client thread),
* latency of a 200-record sObject Collections upsert (p50 / p95 / max),
* a 100,000-row Bulk API 2.0 upsert (seconds, and the server's peak RSS).

Goals on a 2-core machine: >= 500 REST calls/s, collection upsert < 100 ms, 100k rows < 30 s
and < 300 MB. The last line printed is JSON with the figures.

    .venv/bin/python bench/salesforce_sandbox.py [--calls 2000] [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

ROOT = Path(__file__).resolve().parent.parent
METADATA = ROOT / "tests" / "sandbox" / "data" / "sfdx_example"
TOKEN = "00D000000000001!SANDBOX.STATIC.ACCESS.TOKEN"


def start(workdir: Path) -> tuple[subprocess.Popen[str], str, Path]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "salesforce_sandbox.cli",
            "--port",
            "0",
            "--metadata",
            str(METADATA),
            "--api-limit",
            "10000000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=workdir,
    )
    assert process.stdout is not None
    url = ca = ""
    for _ in range(5):
        line = process.stdout.readline()
        if found := re.search(r"listening on (https://\S+)", line):
            url = found.group(1)
        if found := re.search(r"CA certificate\s+(\S+)", line):
            ca = found.group(1)
    if not url or not ca:
        raise RuntimeError("sandbox did not start")
    return process, url, Path(ca)


def client(url: str, ca: Path) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca)
    return Salesforce(instance_url=url, session_id=TOKEN, session=session)


def control(sf: Salesforce, method: str, path: str) -> dict[str, object]:
    response = sf.session.request(method, f"https://{sf.sf_instance}/_sandbox/{path}")
    response.raise_for_status()
    result: dict[str, object] = response.json()
    return result


def rest_calls(sf: Salesforce, calls: int, tag: str = "") -> float:
    """Create, retrieve, update and upsert single records; returns calls per second."""
    per_round = 4
    rounds = max(calls // per_round, 1)
    started = time.perf_counter()
    for i in range(rounds):
        created = sf.Account.create({"Name": f"Bench {tag}{i}"})
        sf.Account.get(created["id"])
        sf.Account.update(created["id"], {"Billing_Status__c": "Current"})
        sf.Account.upsert(f"Stripe_Customer_Id__c/rest_{tag}{i}", {"Name": f"Upsert {i}"})
    elapsed = time.perf_counter() - started
    return rounds * per_round / elapsed


def _worker(url: str, ca: str, calls: int, tag: str, start: Any, out: Any) -> None:
    sf = client(url, Path(ca))
    sf.query("SELECT Id FROM Account LIMIT 1")
    start.wait()
    began = time.perf_counter()
    rest_calls(sf, calls, tag)
    out.put((began, time.perf_counter()))


def rest_calls_parallel(url: str, ca: Path, calls: int, clients: int) -> float:
    """Several client processes at once (one Python client is CPU-bound in requests/TLS)."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    out = context.Queue()
    per_client = calls // clients
    workers = [
        context.Process(target=_worker, args=(url, str(ca), per_client, f"p{n}_", start, out))
        for n in range(clients)
    ]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    start.set()
    spans = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    return (per_client // 4) * 4 * clients / elapsed


def collection_upserts(sf: Salesforce, rounds: int) -> list[float]:
    timings = []
    for n in range(rounds):
        records = [
            {
                "attributes": {"type": "Account"},
                "Stripe_Customer_Id__c": f"col_{i}",
                "Name": f"Collection {i} v{n}",
                "Subscription_Status__c": "Active",
            }
            for i in range(200)
        ]
        started = time.perf_counter()
        result = sf.restful(
            "composite/sobjects/Account/Stripe_Customer_Id__c",
            method="PATCH",
            json={"allOrNone": False, "records": records},
        )
        timings.append((time.perf_counter() - started) * 1000)
        assert result is not None and all(r["success"] for r in result)
    return timings


def bulk_upsert(sf: Salesforce, rows: int, workdir: Path) -> tuple[float, dict[str, object]]:
    path = workdir / "accounts.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Stripe_Customer_Id__c", "Name", "Billing_Status__c", "Phone"])
        for i in range(rows):
            writer.writerow([f"cus_{i:08d}", f"Customer {i}", "Current", f"+1 555 {i:07d}"])
    started = time.perf_counter()
    results = sf.bulk2.Account.upsert(
        csv_file=str(path), external_id_field="Stripe_Customer_Id__c", wait=0
    )
    elapsed = time.perf_counter() - started
    processed = sum(int(r["numberRecordsProcessed"]) for r in results)
    failed = sum(int(r["numberRecordsFailed"]) for r in results)
    return elapsed, {"processed": processed, "failed": failed, "jobs": len(results)}


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine() -> str:
    cpus = os.cpu_count() or 0
    load = os.getloadavg()[0]
    return (
        f"{platform.machine()}, {cpus} CPUs, Python {platform.python_version()}, "
        f"load average {load:.1f} at start"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--collections", type=int, default=30)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    host = machine()
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        workdir = Path(tmp)
        process, url, ca = start(workdir)
        try:
            sf = client(url, ca)
            sf.query("SELECT Id FROM Account LIMIT 1")  # warm up the connection
            cpu_before = float(str(control(sf, "GET", "stats")["cpu_seconds"]))
            own_before = _own_cpu()
            one_client = rest_calls(sf, args.calls)
            server_cpu_ms = (
                (float(str(control(sf, "GET", "stats")["cpu_seconds"])) - cpu_before)
                * 1000
                / args.calls
            )
            client_cpu_ms = (_own_cpu() - own_before) * 1000 / args.calls
            calls_per_second = rest_calls_parallel(url, ca, args.calls, args.clients)
            print(
                f"single-record REST: {one_client:.0f} calls/s with one client, "
                f"{calls_per_second:.0f} calls/s with {args.clients} client processes",
                flush=True,
            )
            timings = collection_upserts(sf, args.collections)
            p50 = statistics.median(timings)
            p95 = sorted(timings)[max(int(len(timings) * 0.95) - 1, 0)]
            print(f"200-record collection upsert: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
            control(sf, "POST", "reset")
            rss_before = control(sf, "GET", "stats")["peak_rss_mb"]
            bulk_seconds, bulk = bulk_upsert(sf, args.rows, workdir)
            stats = control(sf, "GET", "stats")
            calls = control(sf, "GET", "requests")
            print(
                f"{args.rows}-row Bulk 2.0 upsert: {bulk_seconds:.1f} s, server peak RSS "
                f"{stats['peak_rss_mb']} MB",
                flush=True,
            )
        finally:
            process.terminate()
            process.wait(timeout=15)
    figures = {
        "benchmark": "salesforce_sandbox",
        "machine": host,
        "rest_calls_per_second": round(calls_per_second, 1),
        "rest_clients": args.clients,
        "rest_calls_per_second_one_client": round(one_client, 1),
        "rest_server_cpu_ms_per_call": round(server_cpu_ms, 3),
        "rest_client_cpu_ms_per_call": round(client_cpu_ms, 3),
        "collection_upsert_200_ms_p50": round(p50, 1),
        "collection_upsert_200_ms_p95": round(p95, 1),
        "collection_upsert_200_ms_max": round(max(timings), 1),
        "bulk_upsert_rows": args.rows,
        "bulk_upsert_seconds": round(bulk_seconds, 2),
        "bulk_upsert_processed": bulk["processed"],
        "bulk_upsert_failed": bulk["failed"],
        "bulk_api_calls": calls["api_calls"],
        "server_peak_rss_mb_before_bulk": rss_before,
        "server_peak_rss_mb": stats["peak_rss_mb"],
        "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "goals": {
            "rest_calls_per_second": ">= 500",
            "collection_upsert_200_ms": "< 100",
            "bulk_upsert_seconds": "< 30",
            "server_peak_rss_mb": "< 300",
        },
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
