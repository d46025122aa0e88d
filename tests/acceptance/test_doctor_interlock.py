"""`stripe2sf doctor` and the mode interlock, as processes against the real sandboxes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.domain.config import from_mapping
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.metadata_files import write_metadata as write_metadata_files
from stripe_sandbox.testing import RunningSandbox
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.support.procs import clean_env
from tests.support.servers import free_port
from tests.support.sync_env import write_metadata

CLI = [sys.executable, "-m", "stripe2sf"]
PUBLIC_URL = "https://stripe2sf.example.com"


INTEGRATION_SET = "Stripe2sf_Integration"


def assign_integration_set(org: SandboxServer) -> None:
    """What the admin does after deploying (README: sf org assign permset ... --on-behalf-of
    the integration user): one PermissionSetAssignment, created with the admin's session."""
    admin = org.salesforce()
    [user] = admin.query(f"SELECT Id FROM User WHERE Username = '{org.integration_username}'")[
        "records"
    ]
    [permission_set] = admin.query(
        f"SELECT Id FROM PermissionSet WHERE Name = '{INTEGRATION_SET}'"
    )["records"]
    admin.PermissionSetAssignment.create(
        {"AssigneeId": user["Id"], "PermissionSetId": permission_set["Id"]}
    )


@pytest.fixture
def org(tmp_path: Path) -> Iterator[SandboxServer]:
    """An org that lacks one field stripe2sf writes (Account.Billing_Status__c): its metadata
    was deployed from a configuration naming the billing status field otherwise, so the
    deployed permission sets are consistent with the fields the org has (the Metadata API
    refuses a permission set naming a field that does not exist)."""
    other = from_mapping({"objects": {"billing_status_field": "Billing_Standing__c"}})
    metadata = tmp_path / "metadata"
    write_metadata_files(metadata, other)
    with run_salesforce(metadata=[metadata]) as sandbox:
        assign_integration_set(sandbox)
        yield sandbox


@pytest.fixture
def full_org(tmp_path: Path) -> Iterator[SandboxServer]:
    """An org with all of stripe2sf's metadata, the integration set assigned."""
    metadata = write_metadata(tmp_path / "metadata")
    with run_salesforce(metadata=[metadata]) as sandbox:
        assign_integration_set(sandbox)
        yield sandbox


def env_for(org: SandboxServer, stripe_base: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """stripe2sf as the integration user, logging in with the JWT bearer flow (the connected
    app's consumer key, the private key of the certificate it trusts)."""
    key = tmp_path / "jwt-private-key.pem"
    key.write_text(org.jwt_private_key)
    base = clean_env()
    return {
        **base,
        "STRIPE_API_KEY": "sk_test_doctor_000000000000",
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_WEBHOOK_SECRET": "whsec_doctor",
        "SALESFORCE_LOGIN_URL": org.instance_url,
        "SALESFORCE_USERNAME": org.integration_username,
        "SALESFORCE_CLIENT_ID": org.client_id,
        "SALESFORCE_JWT_KEY_FILE": str(key),
        "SALESFORCE_CA_BUNDLE": str(org.ca_path),
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{tmp_path / 'doctor.db'}",
        "STRIPE2SF_PUBLIC_URL": PUBLIC_URL,
        **extra,
    }


def go_live_ready(stripe_box: RunningSandbox, env: dict[str, str], cwd: Path) -> None:
    """What README steps 3 and 4 do besides the org: the webhook endpoint pointing at the
    service with every event type, and the database migrated."""
    stripe_box.client().v1.webhook_endpoints.create(
        {"url": f"{PUBLIC_URL}/webhooks/stripe", "enabled_events": sorted(HANDLED_TYPES)}
    )
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=cwd, check=True, capture_output=True)


def password_env(
    org: SandboxServer, stripe_base: str, tmp_path: Path, password: str
) -> dict[str, str]:
    """The integration user with the username-password (SOAP) login instead."""
    env = env_for(org, stripe_base, tmp_path)
    for name in ("SALESFORCE_CLIENT_ID", "SALESFORCE_JWT_KEY_FILE"):
        env.pop(name)
    return {**env, "SALESFORCE_PASSWORD": password, "SALESFORCE_SECURITY_TOKEN": org.security_token}


def doctor(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "doctor"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def failed_checks(out: str) -> set[str]:
    return set(re.findall(r"FAIL (\S+?):", out))


def test_doctor_names_the_missing_field_and_its_fix(org: SandboxServer, tmp_path: Path) -> None:
    with run_stripe() as stripe_box:
        result = doctor(env_for(org, stripe_box.api_base, tmp_path), tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out
    user = org.integration_username
    assert f"ok Salesforce login: jwt login to {org.instance_url} as {user}" in out
    assert "ok Stripe API" in out and f"ok permission set {INTEGRATION_SET}" in out
    assert f"FAIL Account.Billing_Status__c: field not visible to {user}" in out
    # describe as that user cannot tell a missing field from a hidden one: both are told
    assert (
        "either the field Account.Billing_Status__c does not exist in the org: deploy "
        "stripe2sf's metadata (`stripe2sf metadata --out sf-metadata`, then `cd sf-metadata && "
        "sf project deploy start --source-dir force-app --target-org <org>`)" in out
    )
    assert f"{INTEGRATION_SET} lacks Read and Edit on Account.Billing_Status__c" in out
    assert "ok Account:" not in out and "ok Contact:" in out


def test_doctor_names_a_permission_the_integration_set_lacks(
    full_org: SandboxServer, tmp_path: Path
) -> None:
    """The fields exist; the admin took Edit on Account.MRR__c and the whole field permission
    of Contact.Email out of the assigned set. Everything else the set grants."""
    admin = full_org.salesforce()
    rows = admin.query_all(
        "SELECT Id, Field FROM FieldPermissions WHERE Parent.Name = "
        f"'{INTEGRATION_SET}' AND Field IN ('Account.MRR__c', 'Contact.Email')"
    )["records"]
    ids = {row["Field"]: row["Id"] for row in rows}
    admin.FieldPermissions.update(ids["Account.MRR__c"], {"PermissionsEdit": False})
    admin.FieldPermissions.delete(ids["Contact.Email"])
    with run_stripe() as stripe_box:
        env = env_for(full_org, stripe_box.api_base, tmp_path)
        go_live_ready(stripe_box, env, tmp_path)
        result = doctor(env, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out
    user = full_org.integration_username
    redeploy = (
        "redeploy the permission set (`stripe2sf metadata --out sf-metadata`, then `cd "
        "sf-metadata && sf project deploy start --source-dir force-app --target-org <org>`) "
        f"and assign it: `sf org assign permset --name {INTEGRATION_SET} --target-org <org> "
        f"--on-behalf-of {user}`"
    )
    assert f"FAIL Account.MRR__c: {user} can read but not edit it" in out
    assert f"fix: {INTEGRATION_SET} lacks Edit on Account.MRR__c: {redeploy}" in out
    # a standard field exists in every org: out of sight means a missing permission
    assert f"FAIL Contact.Email: field not visible to {user}" in out
    assert f"fix: {INTEGRATION_SET} lacks Read and Edit on Contact.Email: {redeploy}" in out
    assert failed_checks(out) == {"Account.MRR__c", "Contact.Email"}, out


def test_doctor_passes_as_the_integration_user_with_its_set(
    full_org: SandboxServer, tmp_path: Path
) -> None:
    """The set stripe2sf generates grants everything the default configuration reads and
    writes (doctor derives that from the queries and writes, not from the set); the database
    is migrated and the webhook endpoint points at the service with every event type."""
    with run_stripe() as stripe_box:
        env = env_for(full_org, stripe_box.api_base, tmp_path)
        go_live_ready(stripe_box, env, tmp_path)
        result = doctor(env, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 0 and not failed_checks(out), out
    assert "ok database: sqlite:///" in out and "is reachable and migrated" in out
    assert "ok Stripe webhook endpoint: we_" in out
    assert f"({PUBLIC_URL}/webhooks/stripe) is enabled and subscribes to every type" in out
    for sobject in ("Account", "Contact", "Stripe_Payment__c", "Task", "Case"):
        assert f"ok {sobject}: {full_org.integration_username} has Read, Create and Edit" in out


def test_doctor_names_the_wrong_password(org: SandboxServer, tmp_path: Path) -> None:
    with run_stripe() as stripe_box:
        result = doctor(password_env(org, stripe_box.api_base, tmp_path, "wrong"), tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1
    assert "FAIL Salesforce login" in out and "SALESFORCE_PASSWORD" in out


def test_doctor_tells_in_words_what_it_cannot_reach(tmp_path: Path) -> None:
    """A Stripe key the account does not know (the sandbox accepts only its own), a
    Salesforce and a PostgreSQL nothing listens for: each is named with what to do, none as
    a library's error text."""
    sf_port, pg_port = free_port(), free_port()
    base = clean_env()
    with run_stripe(api_keys=["sk_test_the_accounts_key_0001"]) as stripe_box:
        env = {
            **base,
            "STRIPE_API_KEY": "sk_test_revoked_key_000000wxyz",
            "STRIPE_API_BASE": stripe_box.api_base,
            "STRIPE_WEBHOOK_SECRET": "whsec_doctor",
            "SALESFORCE_LOGIN_URL": f"https://127.0.0.1:{sf_port}",
            "SALESFORCE_USERNAME": "integration@example.com",
            "SALESFORCE_PASSWORD": "password",
            "SALESFORCE_SECURITY_TOKEN": "token",
            "STRIPE2SF_DATABASE_URL": f"postgresql://stripe2sf@127.0.0.1:{pg_port}/stripe2sf",
        }
        result = doctor(env, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out
    assert "support@stripe.com" not in out and "Max retries" not in out, out
    assert (
        "FAIL Stripe API: Stripe refused STRIPE_API_KEY (Invalid API Key provided: "
        "sk_test_******************wxyz): the key is mistyped, or was revoked, rolled or has "
        "expired" in out
    )
    assert (
        f"FAIL database: cannot reach the database at postgresql://stripe2sf@127.0.0.1:{pg_port}"
        "/stripe2sf: the connection was refused" in out
    )
    assert (
        f"FAIL Salesforce login: cannot reach Salesforce at https://127.0.0.1:{sf_port}: the "
        "connection was refused" in out
    )
    assert "fix: check SALESFORCE_LOGIN_URL and that Salesforce is up" in out


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

    wrong = password_env(org, "http://127.0.0.1:9", tmp_path, "wrong")
    result = subprocess.run(
        [*CLI, "status"], env=wrong, cwd=tmp_path, capture_output=True, text=True
    )
    out = " ".join(result.stdout.split())
    assert result.returncode == 0 and "Salesforce API usage unknown" in out
    assert "pending" in out  # the inbox report is still there
