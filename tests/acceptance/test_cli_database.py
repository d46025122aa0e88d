"""Which database a command uses, as processes: every command that opens it says which (password
hidden); commands that only make sense on the deployment's database refuse to create a new
one; `stripe2sf catch-up` ends with a message and an exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import stripe

from stripe_sandbox.testing import RunningSandbox, run_sandbox
from tests.support import pg
from tests.support.procs import clean_env

CLI = [sys.executable, "-m", "stripe2sf"]
READERS = [["status"], ["status", "--json"], ["audit"], ["audit", "verify"], ["replay", "evt_1"]]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def env() -> dict[str, str]:
    return clean_env()


@pytest.mark.parametrize("args", [*READERS, ["reconcile"]], ids=" ".join)
def test_a_reading_command_in_another_folder_refuses_to_create_a_database(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(args, env, elsewhere)  # the default: sqlite:///var/stripe2sf.db, relative
    expected = elsewhere / "var" / "stripe2sf.db"
    message = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"there is no database at {expected}" in message
    assert "refusing to create a new database" in message
    assert "STRIPE2SF_DATABASE_URL" in message and "stripe2sf db upgrade" in message
    assert "Traceback" not in result.stderr
    assert not (elsewhere / "var").exists(), "nothing may be created"


def test_reading_commands_work_on_an_existing_database_and_say_which(
    env: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'stripe2sf.db'}"
    env = {**env, "STRIPE2SF_DATABASE_URL": url}
    assert run(["db", "upgrade"], env, tmp_path).returncode == 0
    for args in READERS[:4]:
        result = run(args, env, tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"database: {url}" in result.stderr.splitlines()


def test_a_sqlite_file_without_stripe2sf_tables_is_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    stray = tmp_path / "stray.db"
    stray.write_bytes(b"")
    result = run(["status"], {**env, "STRIPE2SF_DATABASE_URL": f"sqlite:///{stray}"}, tmp_path)
    assert result.returncode == 2 and "holds no stripe2sf tables" in result.stderr


@pytest.fixture
def pg_admin() -> Iterator[str]:
    """The PostgreSQL server's address (its `postgres` database); skips (or fails when CI
    requires it) without a server, as the other PostgreSQL tests do."""
    with pg.fresh_database() as url:
        yield url.rsplit("/", 1)[0]


def test_a_missing_postgresql_database_is_refused_not_created(
    env: dict[str, str], tmp_path: Path, pg_admin: str
) -> None:
    name = f"stripe2sf_missing_{uuid.uuid4().hex[:10]}"
    # a password in the URL (trust auth ignores it) must never be printed
    url = pg_admin.replace("postgres@", "postgres:s3cret-pw@") + f"/{name}"
    assert "s3cret-pw" in url
    result = run(["audit", "verify"], {**env, "STRIPE2SF_DATABASE_URL": url}, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"has no database '{name}'" in result.stderr
    assert "***" in result.stderr and "s3cret-pw" not in result.stderr + result.stdout
    with psycopg.connect(pg.ADMIN_DSN) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert found == []


def test_an_existing_postgresql_database_is_used_and_named(
    env: dict[str, str], tmp_path: Path, pg_url: str
) -> None:
    env = {**env, "STRIPE2SF_DATABASE_URL": pg_url}
    assert run(["status"], env, tmp_path).returncode == 2, "an empty database holds no tables"
    assert run(["db", "upgrade"], env, tmp_path).returncode == 0
    result = run(["status", "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"database: {pg_url}" in result.stderr


@pytest.fixture
def box() -> Iterator[RunningSandbox]:
    with run_sandbox() as running:
        yield running


def test_catch_up_as_a_process_stores_subscription_events_and_reports(
    box: RunningSandbox, env: dict[str, str], tmp_path: Path
) -> None:
    """The round that died with "Decimal is not JSON serializable" and a traceback."""
    client: stripe.StripeClient = box.client()
    customer = client.v1.customers.create({"email": "cli@catchup.example"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    price = client.v1.prices.create(
        {
            "product_data": {"name": "Plan"},
            "unit_amount": 900,
            "currency": "eur",
            "recurring": {"interval": "month"},
        }
    )
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    env = {
        **env,
        "STRIPE_API_KEY": box.api_key,
        "STRIPE_API_BASE": box.api_base,
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{tmp_path / 'stripe2sf.db'}",
    }
    result = run(["catch-up"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "were missing and are queued" in result.stdout
    assert f"database: sqlite:///{tmp_path / 'stripe2sf.db'}" in result.stderr

    refused = run(
        ["catch-up"], {**env, "STRIPE_API_KEY": "sk_live_not_for_a_sandbox_0000"}, tmp_path
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "catch-up failed" in message and "Stripe refused the API key" in message
    assert "Traceback" not in refused.stderr
