"""The short fault soak: bench/soak.py at about 900 Stripe events with the same faults and chaos
(duplicated, shuffled and dropped webhooks, Stripe 500s, Salesforce 503s, row locks, a request
limit window, latency, a worker SIGKILLed, PostgreSQL crash-restarted), and both directions: a
sales rep's Contact/Account edits and won Opportunities reach Stripe through Change Data Capture
(the capture process SIGKILLed, Pub/Sub streams aborted, Stripe 500s on customer updates and
invoice sends), verified through the stripe SDK and SOQL only. Any lost, duplicated, drifted,
dead-lettered (besides the unknown-price Opportunities' documented ones) or stuck record fails.

Deselect with `-m "not soak"`. It needs PostgreSQL's server binaries (initdb, pg_ctl) and to
run as root or as the postgres user: it starts a private cluster, never the machine's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import pg

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 900

pytestmark = [pytest.mark.soak, pytest.mark.postgres, pytest.mark.timeout(900)]


def _can_run_postgres() -> str | None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if os.geteuid() != 0:
        import pwd

        if pwd.getpwuid(os.geteuid()).pw_name != "postgres":
            return "a private PostgreSQL cluster needs root (runuser) or the postgres user"
    return None


def test_short_soak_loses_nothing(tmp_path: Path) -> None:
    why = _can_run_postgres()
    if why:
        if pg.required():
            pytest.fail(why + " (required: STRIPE2SF_REQUIRE_POSTGRES=1)")
        pytest.skip(why)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            "--events",
            str(EVENTS),
            "--rate",
            "10",
            "--drain-timeout",
            "240",
            "--workdir",
            str(tmp_path / "soak"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
    )
    output = done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, output[-4000:]
    figures = json.loads(lines[-1])
    assert "error" not in figures, output[-6000:]
    report = output[output.find("verdict:") :] if "verdict:" in output else output[-6000:]
    counts = {
        k: figures[k] for k in ("lost", "duplicated", "drifted", "dead_lettered", "undrained")
    }
    assert counts == dict.fromkeys(counts, 0), f"{counts}\n{report}"
    assert figures["events"] >= EVENTS * 0.9, report
    # the Salesforce -> Stripe part ran: the rep's edits, conflicts and won deals were checked
    two_way = figures["two_way"]
    assert figures["rep_failures"] == 0, output[-6000:]
    assert two_way["rep_edits"] >= 24 and two_way["stripe_side_edits"] >= 1, two_way
    assert two_way["invoices_sent_and_linked"] >= 1, two_way
    assert two_way["unknown_price_errors_written"] >= 1, two_way
    assert figures["by_direction"]["sf_to_stripe"] == dict.fromkeys(counts, 0), report
