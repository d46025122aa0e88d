"""bench/throughput.py at a tiny size (`--quick`), so that it cannot rot: it must still start
the sandboxes and stripe2sf processes, drive every measurement and print its JSON with every
figure. Nothing here looks at the figures' values (no test asserts on timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pg

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "calls_per_charge_trickle_returning",
    "calls_per_charge_trickle_new",
    "calls_per_payment_readme_returning",
    "calls_per_payment_readme_new",
    "calls_per_event_burst_all_new",
    "calls_per_event_burst_50",
    "events_per_s_latency_default",
    "events_per_s_latency_best",
    "workers_speedup",
    "worker_cpu_ms_per_event",
}

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]


def test_quick_run_prints_every_figure(tmp_path: Path) -> None:
    if not pg.available():
        message = f"PostgreSQL is not reachable at {pg.ADMIN_DSN}"
        if pg.required():
            pytest.fail(message + " (required: STRIPE2SF_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "throughput.py"), "--quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["benchmark"] == "throughput"
    assert set(report["figures"]) == FIGURES
    for key, entry in report["figures"].items():
        assert {"stripe2sf", "goal", "met", "label"} <= set(entry), key
        assert isinstance(entry["stripe2sf"], int | float), (key, entry)
        assert isinstance(entry["met"], bool), key
    for key in ("calls_per_charge_trickle_new", "calls_per_event_burst_50"):
        assert isinstance(report["figures"][key]["naive"], int | float), key
    assert isinstance(report["figures"]["events_per_s_latency_default"]["naive"], int | float)
    assert report["dead_letters"] == 0, output[-3000:]
    assert {r["run"] for r in report["runs"]} >= {"1 worker, default"}
