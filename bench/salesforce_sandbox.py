"""Benchmark the Salesforce sandbox with the real simple-salesforce client.

Starts ``salesforce-sandbox`` as a separate process (in-memory org, the example SFDX metadata)
and measures:

* single-record REST calls per second from several client processes at once, as an
  integration's workers drive Salesforce (default 4, stripe2sf's default worker concurrency):
  each process has its own simple-salesforce session and runs rounds of create, retrieve,
  update, upsert by external id and a one-row SOQL query back to back; reported with the
  per-call p50 / p99 latency and the server's CPU per call (its own rusage, which other load
  on the machine skews far less than calls/s); the same with one client process for comparison,
* latency of a 200-record sObject Collections upsert (p50 / p95 / max),
* a 100,000-row Bulk API 2.0 upsert (seconds, and the server's peak RSS).

Goals on a 2-core machine: >= 500 REST calls/s, collection upsert < 100 ms, 100k rows < 30 s
and < 300 MB. The client processes share the two cores with the server. The last line printed
is JSON with the figures.

    .venv/bin/python bench/salesforce_sandbox.py [--calls 5000] [--clients 4] [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
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


CALLS = ("create", "get", "update", "upsert", "query")


def rest_round(sf: Salesforce, key: str, timings: dict[str, list[float]]) -> None:
    """One record's life in a sync: create it, read it, update it, upsert another by its
    external id, find that one with a one-row SOQL query. Appends each call's seconds."""
    clock = time.perf_counter
    t0 = clock()
    created = sf.Account.create({"Name": f"Bench {key}"})
    t1 = clock()
    sf.Account.get(created["id"])
    t2 = clock()
    sf.Account.update(created["id"], {"Billing_Status__c": "Current"})
    t3 = clock()
    sf.Account.upsert(f"Stripe_Customer_Id__c/rest_{key}", {"Name": f"Upsert {key}"})
    t4 = clock()
    found = sf.query(f"SELECT Id, Name FROM Account WHERE Stripe_Customer_Id__c = 'rest_{key}'")
    t5 = clock()
    assert found["totalSize"] == 1
    for name, began, ended in zip(CALLS, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5), strict=True):
        timings[name].append(ended - began)


def _rest_worker(
    url: str, ca: str, rounds: int, tag: str, ready: Any, start: Any, out: Any
) -> None:
    """One client process: its own simple-salesforce session (and TLS connection)."""
    sf = client(url, Path(ca))
    sf.query("SELECT Id FROM Account LIMIT 1")  # connect before the clock starts
    timings: dict[str, list[float]] = {name: [] for name in CALLS}
    ready.put(tag)
    start.wait()
    cpu_before = _own_cpu()
    began = time.perf_counter()
    for i in range(rounds):
        rest_round(sf, f"{tag}{i}", timings)
    ended = time.perf_counter()
    out.put((began, ended, _own_cpu() - cpu_before, timings))


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[
        min(max(math.ceil(len(sorted_values) * fraction) - 1, 0), len(sorted_values) - 1)
    ]


def rest_load(
    url: str, ca: Path, sf: Salesforce, calls: int, clients: int, tag: str
) -> dict[str, Any]:
    """``clients`` client processes, each running rounds of the five single-record calls
    back to back (a closed loop); ``calls`` in total. Returns calls/s, latency percentiles
    and CPU per call (the server's from its own rusage: other load on the machine changes it
    far less than calls/s, though a loaded machine still inflates it somewhat)."""
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    start = context.Event()
    out = context.Queue()
    rounds = max(calls // (len(CALLS) * clients), 1)
    workers = [
        context.Process(
            target=_rest_worker, args=(url, str(ca), rounds, f"{tag}{n}_", ready, start, out)
        )
        for n in range(clients)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:  # every client has imported, connected and waits
        ready.get(timeout=300)
    server_before = _server_cpu(sf)
    start.set()
    results = [out.get(timeout=600) for _ in workers]
    server_cpu = _server_cpu(sf) - server_before
    for worker in workers:
        worker.join()
    elapsed = max(r[1] for r in results) - min(r[0] for r in results)
    total = rounds * len(CALLS) * clients
    every = sorted(t for r in results for series in r[3].values() for t in series)
    by_call = {name: sorted(t for r in results for t in r[3][name]) for name in CALLS}
    return {
        "clients": clients,
        "calls": total,
        "seconds": elapsed,
        "calls_per_second": total / elapsed,
        "p50_ms": _percentile(every, 0.50) * 1000,
        "p99_ms": _percentile(every, 0.99) * 1000,
        "max_ms": every[-1] * 1000,
        "p50_ms_by_call": {k: round(_percentile(v, 0.5) * 1000, 2) for k, v in by_call.items()},
        "server_cpu_ms_per_call": server_cpu * 1000 / total,
        "client_cpu_ms_per_call": sum(r[2] for r in results) * 1000 / total,
    }


def _server_cpu(sf: Salesforce) -> float:
    return float(str(control(sf, "GET", "stats")["cpu_seconds"]))


def _describe(load: dict[str, Any]) -> str:
    return (
        f"{load['calls_per_second']:.0f} calls/s with {load['clients']} client process"
        f"{'es' if load['clients'] != 1 else ''} ({load['calls']} calls), "
        f"p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms; "
        f"CPU per call: server {load['server_cpu_ms_per_call']:.3f} ms, "
        f"client {load['client_cpu_ms_per_call']:.3f} ms"
    )


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
    parser.add_argument("--calls", type=int, default=5000, help="REST calls in all clients")
    parser.add_argument("--clients", type=int, default=4, help="REST client processes")
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
            one = rest_load(url, ca, sf, args.calls // 2, 1, "a")
            print(f"single-record REST: {_describe(one)}", flush=True)
            rest = rest_load(url, ca, sf, args.calls, args.clients, "b")
            print(f"single-record REST: {_describe(rest)}", flush=True)
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
        "load_average_at_end": round(os.getloadavg()[0], 1),
        "rest_calls_per_second": round(rest["calls_per_second"], 1),
        "rest_clients": rest["clients"],
        "rest_calls": rest["calls"],
        "rest_call_mix": list(CALLS),
        "rest_latency_ms_p50": round(rest["p50_ms"], 2),
        "rest_latency_ms_p99": round(rest["p99_ms"], 2),
        "rest_latency_ms_max": round(rest["max_ms"], 2),
        "rest_latency_ms_p50_by_call": rest["p50_ms_by_call"],
        "rest_server_cpu_ms_per_call": round(rest["server_cpu_ms_per_call"], 3),
        "rest_client_cpu_ms_per_call": round(rest["client_cpu_ms_per_call"], 3),
        "rest_calls_per_second_one_client": round(one["calls_per_second"], 1),
        "rest_latency_ms_p50_one_client": round(one["p50_ms"], 2),
        "rest_latency_ms_p99_one_client": round(one["p99_ms"], 2),
        "rest_server_cpu_ms_per_call_one_client": round(one["server_cpu_ms_per_call"], 3),
        "rest_client_cpu_ms_per_call_one_client": round(one["client_cpu_ms_per_call"], 3),
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
