"""The short fault soak: bench/soak.py at about 900 Stripe events with the same faults and chaos
(duplicated, shuffled and dropped webhooks, Stripe 500s, Salesforce 503s, row locks, a request
limit window, latency, a worker SIGKILLed, PostgreSQL crash-restarted), verified through the
stripe SDK and SOQL only. Any lost, duplicated, drifted, dead-lettered or stuck record fails.

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
