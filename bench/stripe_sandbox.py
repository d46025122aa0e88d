"""Benchmark the stripe sandbox: bulk-seed customers with payment history and subscriptions,
then list everything back through the official SDK with auto-pagination.

    .venv/bin/python bench/stripe_sandbox.py [--customers 100000] [--data] [--processes 2]

Runs ``stripe-sandbox`` as a separate process, seeds it through ``POST /_sandbox/seed``, and
lists customers, charges and subscriptions with ``limit=100`` through the SDK's
``auto_paging_iter``. The SDK spends ~0.3-0.5 ms of CPU building the typed object of one charge
or subscription, so one Python process cannot list more than ~2,000 of them a second; like a
backfill of a large account, the listing is therefore split by ``created`` ranges over
``--processes`` client processes (each its own ``StripeClient``, auto-paginating its ranges).
Goals: seeding under 2 minutes, listing >= 5,000 objects/s. Prints figures, then a last line of
JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import stripe

KEY = "sk_test_stripe_sandbox_bench_0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(base: str, path: str, body: dict[str, Any], timeout: float = 900) -> Any:
    req = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def _rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (load-independent, unlike wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("stripe-sandbox exited")
        try:
            with urllib.request.urlopen(f"{base}/_sandbox/health", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("stripe-sandbox did not start")


def _client(base: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": base}, max_network_retries=0)


def _list_ranges(job: tuple[str, str, list[tuple[int, int]]]) -> tuple[int, float]:
    """One client process: auto-paginate ``resource`` over its ``created`` ranges."""
    base, resource, ranges = job
    cpu_before = time.process_time()
    service = getattr(_client(base).v1, resource)
    count = 0
    for gte, lt in ranges:
        params = {"limit": 100, "created": {"gte": gte, "lt": lt}}
        count += sum(1 for _ in service.list(params).auto_paging_iter())
    return count, time.process_time() - cpu_before


def _created_ranges(client: stripe.StripeClient, path: str, slices: int) -> list[tuple[int, int]]:
    """Split the ``created`` span of a resource into ``slices`` equal ranges."""
    newest = client.raw_request("get", path, limit=1).data["data"]
    if not newest:
        return []
    hi = int(newest[0]["created"]) + 1
    lo, top = 0, hi  # bisect for the oldest ``created``: the smallest t with an object <= t
    while lo < top:
        mid = (lo + top) // 2
        if client.raw_request("get", path, limit=1, **{"created[lte]": mid}).data["data"]:
            top = mid
        else:
            lo = mid + 1
    step = max(1, -(-(hi - lo) // slices))
    return [(start, min(start + step, hi)) for start in range(lo, hi, step)]


def _list_all(base: str, resource: str, processes: int) -> tuple[int, float, float]:
    """List a resource through ``processes`` client processes; objects, seconds, client CPU s."""
    ranges = _created_ranges(_client(base), f"/v1/{resource}", processes * 8)
    jobs = [(base, resource, ranges[i::processes]) for i in range(processes)]
    started = time.perf_counter()
    if processes == 1:
        results = [_list_ranges(jobs[0])]
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(processes) as pool:
            results = pool.map(_list_ranges, jobs)
    seconds = time.perf_counter() - started
    return sum(r[0] for r in results), seconds, sum(r[1] for r in results)


def _list_raw(client: stripe.StripeClient, path: str) -> tuple[int, float]:
    """The same pages through the SDK's request layer (``raw_request``) without building typed
    objects: what the server and the wire deliver."""
    started = time.perf_counter()
    count, after = 0, None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if after:
            params["starting_after"] = after
        page = client.raw_request("get", path, **params).data  # parsed once, by the SDK
        count += len(page["data"])
        if not page["has_more"]:
            return count, time.perf_counter() - started
        after = page["data"][-1]["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--charges-per-customer", type=int, default=3)
    parser.add_argument("--subscriptions-per-customer", type=int, default=1)
    parser.add_argument(
        "--data",
        action="store_true",
        help="keep the sandbox in a SQLite file (default: in memory, the sandbox's own default)",
    )
    parser.add_argument(
        "--resources",
        default="customers,charges,subscriptions",
        help="what to list back after seeding ('' lists nothing: seeding figures only)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="client processes listing disjoint created ranges (default 2: one per core)",
    )
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="stripe-sandbox-bench-") if args.data else None
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    script = Path(sys.executable).parent / "stripe-sandbox"
    cmd = [str(script), "--port", str(port), "--log-level", "warning"]
    if data_dir:
        cmd += ["--data", data_dir]
    proc = subprocess.Popen(cmd)
    try:
        _wait_up(base, proc)
        rss_before = _rss_mb(proc.pid, "VmRSS")
        cpu_before = _cpu_seconds(proc.pid)
        started = time.perf_counter()
        seeded = _post(
            base,
            "/_sandbox/seed",
            {
                "customers": args.customers,
                "charges_per_customer": args.charges_per_customer,
                "subscriptions_per_customer": args.subscriptions_per_customer,
                "random_seed": 1,
            },
        )
        seed_seconds = time.perf_counter() - started
        seed_cpu = _cpu_seconds(proc.pid) - cpu_before
        seed_peak = _rss_mb(proc.pid, "VmHWM")
        print(
            f"seeded {seeded['customers']} customers, {seeded['charges']} charges, "
            f"{seeded['subscriptions']} subscriptions in {seed_seconds:.1f}s "
            f"(server peak RSS {seed_peak:.0f} MB)"
        )
        client = _client(base)
        listing: dict[str, dict[str, float]] = {}
        total, total_seconds = 0, 0.0
        for resource in [r for r in args.resources.split(",") if r]:
            count, seconds, cpu = _list_all(base, resource, args.processes)
            listing[resource] = {
                "objects": count,
                "seconds": round(seconds, 2),
                "objects_per_second": round(count / seconds, 1),
                "client_cpu_us_per_object": round(cpu / max(count, 1) * 1e6, 1),
            }
            total += count
            total_seconds += seconds
            print(
                f"listed {count} {resource} in {seconds:.1f}s ({count / seconds:,.0f}/s, "
                f"{args.processes} processes, {cpu / max(count, 1) * 1e6:.0f} us client CPU each)"
            )
        raw: dict[str, dict[str, float]] = {}
        raw_total, raw_seconds = 0, 0.0
        for resource in [r for r in args.resources.split(",") if r]:
            count, seconds = _list_raw(client, f"/v1/{resource}")
            raw[resource] = {
                "objects": count,
                "seconds": round(seconds, 2),
                "objects_per_second": round(count / seconds, 1),
            }
            raw_total += count
            raw_seconds += seconds
            print(f"raw-listed {count} {resource} in {seconds:.1f}s ({count / seconds:,.0f}/s)")
        server_peak = _rss_mb(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if data_dir:
            db = Path(data_dir) / "stripe-sandbox.sqlite3"
            db_mb = db.stat().st_size / 1e6 if db.exists() else 0.0
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            db_mb = 0.0
    rate = total / total_seconds if total_seconds else 0.0
    result = {
        "benchmark": "stripe_sandbox",
        "customers": seeded["customers"],
        "charges": seeded["charges"],
        "subscriptions": seeded["subscriptions"],
        "objects_seeded": sum(v for k, v in seeded.items() if k != "seconds"),
        "seed_seconds": round(seed_seconds, 1),
        "seed_goal_met": seed_seconds < 120,
        "seed_server_cpu_seconds": round(seed_cpu, 1),
        "load_average_at_end": os.getloadavg()[0],
        "server_rss_before_mb": round(rss_before, 1),
        "server_peak_rss_mb": round(server_peak, 1),
        "database_mb": round(db_mb, 1),
        "storage": "sqlite file" if args.data else "memory",
        "listing": listing,
        "list_objects_per_second": round(rate, 1),
        "list_processes": args.processes,
        "list_goal_met": rate >= 5000 if total else None,
        "raw_listing": raw,
        "raw_list_objects_per_second": round(raw_total / raw_seconds, 1) if raw_seconds else 0,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
