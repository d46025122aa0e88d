"""The stripe2sf CLI as processes: serve, status, replay, db upgrade, bad settings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from stripe2sf.domain.flows.integrity import livemode_refusal
from stripe2sf.store.db import make_engine, upgrade
from stripe2sf.store.inbox import Inbox
from stripe2sf.web.intake import to_new_event
from tests.support.events import encode, event, signed
from tests.support.procs import clean_env
from tests.support.servers import free_port

SECRET = "whsec_cli"
CLI = [sys.executable, "-m", "stripe2sf"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = clean_env()
    return {
        **base,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


def _start(args: list[str], env: dict[str, str], cwd: Path, ready: str) -> subprocess.Popen[bytes]:
    """Start a stripe2sf command; return once `ready` (a URL) answers 200."""
    proc = subprocess.Popen(
        [*CLI, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(ready).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, f"{args[0]} did not become ready"
        time.sleep(0.1)


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{free_port()}"
    proc = _start(["serve", "--port", url.rsplit(":", 1)[1]], env, tmp_path, url + "/readyz")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_help_lists_the_commands(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["--help"], env, tmp_path)
    assert result.returncode == 0
    for command in ("serve", "worker", "status", "replay", "db"):
        assert command in result.stdout


def test_db_upgrade_creates_the_database(env: dict[str, str], tmp_path: Path) -> None:
    result = run(["db", "upgrade"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli.db").exists()


def test_bad_setting_stops_start_up_with_a_clear_message(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run(["status"], {**env, "STRIPE2SF_MAX_ATTEMPTS": "many"}, tmp_path)
    assert result.returncode == 2
    assert "STRIPE2SF_MAX_ATTEMPTS" in result.stderr and "'many'" in result.stderr


def test_serve_takes_webhooks_and_its_worker_applies_them(
    served: str, env: dict[str, str], tmp_path: Path
) -> None:
    body = encode(event("evt_cli", customer="cus_cli"))
    response = httpx.post(served + "/webhooks/stripe", content=body, headers=signed(body, SECRET))
    assert response.status_code == 200
    deadline = time.monotonic() + 30
    while True:
        report = json.loads(run(["status", "--json"], env, tmp_path).stdout)
        if report["inbox"]["done"] == 1:
            break
        assert time.monotonic() < deadline, report
        time.sleep(0.2)
    assert report["dead_letters"] == 0 and report["inbox"]["pending"] == 0

    replayed = run(["replay", "evt_cli"], env, tmp_path)
    assert replayed.returncode == 0 and "replayed 1" in replayed.stdout
    missing = run(["replay", "evt_nope"], env, tmp_path)
    assert missing.returncode == 1 and "evt_nope" in missing.stderr


def test_a_separate_worker_process_serves_its_own_counters(
    env: dict[str, str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    port = url.rsplit(":", 1)[1]
    intake = _start(["serve", "--no-worker", "--port", port], env, tmp_path, url + "/readyz")
    metrics_url = f"http://127.0.0.1:{free_port()}/metrics"
    metrics_port = metrics_url.split(":")[2].split("/")[0]
    worker = _start(["worker", "--metrics-port", metrics_port], env, tmp_path, metrics_url)
    try:
        body = encode(event("evt_worker_metrics", customer="cus_wm"))
        headers = signed(body, SECRET)
        assert httpx.post(url + "/webhooks/stripe", content=body, headers=headers).is_success
        done = 'stripe2sf_events_processed_total{outcome="done",type="charge.succeeded"} 1.0'
        deadline = time.monotonic() + 30
        while done not in (text := httpx.get(metrics_url).text):
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(0.2)
        # all of its counters: the scrape-time ones too (Salesforce and Stripe calls, inbox)
        assert "stripe2sf_stripe_calls_total" in text and "stripe2sf_inbox_depth" in text
        # serve applied nothing: its own counter of applied events stays absent
        assert 'outcome="done"' not in httpx.get(url + "/metrics").text
    finally:
        for proc in (worker, intake):
            proc.terminate()
            proc.wait(timeout=20)


def test_replay_of_a_refused_event_waits_for_a_key_of_its_mode(
    env: dict[str, str], tmp_path: Path
) -> None:
    url = env["STRIPE2SF_DATABASE_URL"]
    upgrade(url)
    doc = {**event("evt_live_one", customer="cus_live"), "livemode": True}
    why = livemode_refusal(True, "sk_test_abc")
    assert why is not None
    inbox = Inbox(make_engine(url))
    inbox.add(to_new_event(doc, encode(doc), True, "webhook", why), datetime.now(UTC))

    with_test_key = run(
        ["replay", "evt_live_one"], {**env, "STRIPE_API_KEY": "sk_test_abc"}, tmp_path
    )
    assert with_test_key.returncode == 1, with_test_key.stderr
    assert "replayed 0" in with_test_key.stdout and "not replayed" in with_test_key.stderr
    assert "not in the inbox" not in with_test_key.stderr
    assert inbox.row("evt_live_one")["state"] == "refused"  # type: ignore[index]

    with_live_key = run(
        ["replay", "evt_live_one"], {**env, "STRIPE_API_KEY": "sk_live_abc"}, tmp_path
    )
    assert with_live_key.returncode == 0 and "replayed 1" in with_live_key.stdout
    assert inbox.row("evt_live_one")["state"] == "pending"  # type: ignore[index]
