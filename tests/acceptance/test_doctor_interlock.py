"""`stripe2sf doctor` and the mode interlock, as processes against the real sandboxes."""

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

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.support.servers import free_port
from tests.support.sync_env import write_metadata

CLI = [sys.executable, "-m", "stripe2sf"]


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    metadata = write_metadata(tmp_path / "metadata")
    # The org lacks one field stripe2sf writes.
    missing = (
        metadata / "force-app/main/default/objects/Account/fields/Billing_Status__c.field-meta.xml"
    )
    missing.unlink()
    with run_salesforce(metadata=[metadata]) as sandbox:
        yield sandbox


def env_for(org: SandboxServer, stripe_base: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE", "SALESFORCE"))}
    return {
        **base,
        "STRIPE_API_KEY": "sk_test_doctor_000000000000",
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_WEBHOOK_SECRET": "whsec_doctor",
        "SALESFORCE_LOGIN_URL": org.instance_url,
        "SALESFORCE_USERNAME": org.username,
        "SALESFORCE_PASSWORD": org.password,
        "SALESFORCE_SECURITY_TOKEN": org.security_token,
        "SALESFORCE_CA_BUNDLE": str(org.ca_path),
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{tmp_path / 'doctor.db'}",
        **extra,
    }


def doctor(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "doctor"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_doctor_names_the_missing_field_and_its_fix(org: SandboxServer, tmp_path: Path) -> None:
    with run_stripe() as stripe_box:
        result = doctor(env_for(org, stripe_box.api_base, tmp_path), tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out
    assert "FAIL Account.Billing_Status__c: field missing" in out
    assert "stripe2sf metadata --out DIR" in out
    assert "ok Salesforce login" in out and "ok Stripe API" in out
    assert "ok Account.Subscription_Status__c" in out


def test_doctor_names_the_wrong_password(org: SandboxServer, tmp_path: Path) -> None:
    with run_stripe() as stripe_box:
        env = env_for(org, stripe_box.api_base, tmp_path, SALESFORCE_PASSWORD="wrong")
        result = doctor(env, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1
    assert "FAIL Salesforce login" in out and "SALESFORCE_PASSWORD" in out


def test_live_key_with_a_test_org_refuses_to_start_unless_allowed(
    org: SandboxServer, tmp_path: Path
) -> None:
    env = env_for(org, "http://127.0.0.1:9", tmp_path, STRIPE_API_KEY="sk_live_interlock_0000")
    port = free_port()
    refused = subprocess.run(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "refusing to start" in refused.stderr and "live Stripe key" in refused.stderr

    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--allow-mixed-modes"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "serve exited although mixed modes were allowed"
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_status_reports_the_orgs_api_usage_today(org: SandboxServer, tmp_path: Path) -> None:
    org.set_limits(daily_limit=15_000, used=1_234)
    env = env_for(org, "http://127.0.0.1:9", tmp_path)  # status never calls Stripe
    # status reads the deployment's database; it refuses to create one
    upgrade = [*CLI, "db", "upgrade"]
    subprocess.run(upgrade, env=env, cwd=tmp_path, check=True, capture_output=True)
    result = subprocess.run(
        [*CLI, "status", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    api = json.loads(result.stdout)["salesforce_api"]
    # the /limits call that reads the usage counts itself, as in a real org
    assert api["limit"] == 15_000 and api["used"] in (1_234, 1_235)
    assert api["remaining"] == api["limit"] - api["used"]

    wrong = env_for(org, "http://127.0.0.1:9", tmp_path, SALESFORCE_PASSWORD="wrong")
    result = subprocess.run(
        [*CLI, "status"], env=wrong, cwd=tmp_path, capture_output=True, text=True
    )
    out = " ".join(result.stdout.split())
    assert result.returncode == 0 and "Salesforce API usage unknown" in out
    assert "pending" in out  # the inbox report is still there
