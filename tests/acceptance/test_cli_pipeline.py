"""The stripe2sf CLI as processes: serve, status, replay, db upgrade, bad settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.events import encode, event, signed
from tests.support.servers import free_port

SECRET = "whsec_cli"
CLI = [sys.executable, "-m", "stripe2sf"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE", "SALESFORCE"))}
    return {
        **base,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "serve did not become ready"
        time.sleep(0.1)
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
