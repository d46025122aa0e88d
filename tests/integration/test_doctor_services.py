"""`stripe2sf doctor`'s checks of the database, the Stripe API and webhook endpoint, and an
unreachable Salesforce, against real parts: the Stripe sandbox (its `api_keys` setting to
rehearse a wrong key), SQLite files, the PostgreSQL server, and ports nothing listens on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.domain.setup.doctor import Check
from stripe2sf.engine.doctor_services import (
    database,
    salesforce_login_failure,
    stripe_api,
    webhook_endpoint,
)
from stripe2sf.salesforce.client import connect
from stripe2sf.settings import Settings
from stripe2sf.store.db import alembic_config, upgrade
from stripe2sf.store.schema_state import known_revisions
from stripe2sf.stripe.reader import StripeReader
from stripe_sandbox.testing import RunningSandbox, run_sandbox
from tests.support import pg
from tests.support.servers import free_port

KEY = "sk_test_doctor_services_000000001"
REVOKED = "sk_test_doctor_revoked_0000000wxyz"
SERVICE = "https://stripe2sf.example.com"


@pytest.fixture(scope="module")
def stripe_box() -> Iterator[RunningSandbox]:
    with run_sandbox(api_keys=[KEY]) as running:
        yield running


@pytest.fixture
def box(stripe_box: RunningSandbox) -> RunningSandbox:
    stripe_box.reset()
    return stripe_box


def settings(**values: Any) -> Settings:
    base: dict[str, Any] = {
        "stripe_api_key": KEY,
        "stripe_api_base": None,
        "public_url": None,
        "database_url": "sqlite:///unused.db",
        "salesforce_login_url": None,
        "salesforce_instance_url": None,
        "salesforce_username": None,
        "salesforce_password": None,
        "salesforce_security_token": None,
        "salesforce_client_id": None,
        "salesforce_client_secret": None,
        "salesforce_jwt_key_file": None,
    }
    return Settings(**{**base, **values})


def stripe_checks(s: Settings) -> list[Check]:
    reader = StripeReader(s.stripe_key or "", s.stripe_api_base, max_retries=0)
    api = stripe_api(reader, s)
    return [api, *webhook_endpoint(reader, s)] if api.ok else [api]


def plain(check: Check) -> str:
    text = f"{check.detail} {check.fix}"
    assert "support@stripe.com" not in text and "object at 0x" not in text, text
    assert "HTTPConnectionPool" not in text and "Max retries" not in text, text
    return text


# ---- Stripe -----------------------------------------------------------------------------


def test_a_wrong_key_is_told_in_words(box: RunningSandbox) -> None:
    [api] = stripe_checks(settings(stripe_api_key=REVOKED, stripe_api_base=box.api_base))
    assert not api.ok
    text = plain(api)
    assert "Stripe refused STRIPE_API_KEY" in api.detail and "revoked" in api.detail
    assert "Invalid API Key provided: sk_test_" in api.detail and REVOKED not in text
    assert api.detail.endswith("): the key is mistyped, or was revoked, rolled or has expired")
    assert "Developers > API keys" in api.fix and "STRIPE_API_KEY" in api.fix


def test_a_stopped_stripe_is_told_in_words() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    [api] = stripe_checks(settings(stripe_api_base=base))
    assert not api.ok
    plain(api)
    assert api.detail == (
        f"cannot reach Stripe at {base}: the connection was refused: nothing listens at that "
        "address and port (the service is stopped, or the address or port is wrong)"
    )
    assert f"STRIPE_API_BASE ({base}; unset it to use Stripe itself)" in api.fix


def test_no_webhook_endpoint(box: RunningSandbox) -> None:
    box.client().v1.webhook_endpoints.create(
        {"url": "https://elsewhere.example.com/hooks", "enabled_events": ["*"]}
    )
    api, endpoint = stripe_checks(settings(stripe_api_base=box.api_base, public_url=SERVICE))
    assert api.ok and "the key is accepted" in api.detail
    assert not endpoint.ok
    assert f"no webhook endpoint of this Stripe account points at {SERVICE}/webhooks/stripe" in (
        endpoint.detail
    )
    assert "https://elsewhere.example.com/hooks" in endpoint.detail
    assert f"add an endpoint with URL {SERVICE}/webhooks/stripe" in endpoint.fix


def test_an_endpoint_missing_event_types_and_a_disabled_one(box: RunningSandbox) -> None:
    client = box.client()
    needed = sorted(HANDLED_TYPES)
    lacking = ["charge.refunded", "invoice.payment_failed"]
    endpoint = client.v1.webhook_endpoints.create(
        {
            "url": f"{SERVICE}/webhooks/stripe",
            "enabled_events": [t for t in needed if t not in lacking],
        }
    )
    s = settings(stripe_api_base=box.api_base, public_url=SERVICE + "/")
    _, check = stripe_checks(s)
    assert not check.ok
    assert f"{endpoint.id} ({SERVICE}/webhooks/stripe) does not subscribe to 2 event type(s)" in (
        check.detail
    )
    assert "charge.refunded, invoice.payment_failed" in check.detail
    assert check.fix.endswith("charge.refunded, invoice.payment_failed")

    client.v1.webhook_endpoints.update(endpoint.id, {"enabled_events": needed, "disabled": True})
    _, check = stripe_checks(s)
    assert not check.ok and "is disabled: Stripe sends it nothing" in check.detail
    assert "Enable" in check.fix

    client.v1.webhook_endpoints.update(endpoint.id, {"disabled": False})
    _, check = stripe_checks(s)
    assert check.ok, check
    assert "is enabled and subscribes to every type stripe2sf needs" in check.detail


def test_without_the_public_url_the_endpoint_is_found_by_its_path(box: RunningSandbox) -> None:
    box.client().v1.webhook_endpoints.create(
        {"url": "https://somewhere.example.com/webhooks/stripe", "enabled_events": ["*"]}
    )
    _, warning, check = stripe_checks(settings(stripe_api_base=box.api_base))
    assert warning.ok and warning.warning and warning.name == "STRIPE2SF_PUBLIC_URL"
    assert "https://somewhere.example.com/webhooks/stripe" in warning.detail
    assert check.ok and "every event stripe2sf needs" in check.detail


# ---- the database -------------------------------------------------------------------------


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "stripe2sf.db"
    check = database(settings(database_url=f"sqlite:///{path}"))
    assert not check.ok and check.detail == f"there is no database at {path}"
    assert "`stripe2sf db upgrade`" in check.fix and "STRIPE2SF_DATABASE_URL" in check.fix
    assert not path.exists() and not path.parent.exists()


def test_sqlite_migrated_and_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stripe2sf.db'}"
    revisions = known_revisions()
    command.upgrade(alembic_config(url), revisions[-3])
    check = database(settings(database_url=url))
    assert not check.ok
    assert f"is at revision {revisions[-3]}, 2 migration(s) behind" in check.detail
    assert "`stripe2sf db upgrade`" in check.fix
    upgrade(url)
    check = database(settings(database_url=url))
    assert check.ok and f"reachable and migrated (revision {revisions[-1]})" in check.detail


def test_postgresql_migrated_missing_and_stopped() -> None:
    with pg.fresh_database() as url:
        check = database(settings(database_url=url))
        assert not check.ok and "holds no stripe2sf tables" in check.detail
        upgrade(url)
        assert database(settings(database_url=url)).ok
        gone = url.rsplit("/", 1)[0] + "/stripe2sf_no_such_database"
        check = database(settings(database_url=gone))
        assert not check.ok
        assert "has no database 'stripe2sf_no_such_database'" in check.detail
    port = free_port()
    check = database(settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/x"))
    assert not check.ok
    assert check.detail.startswith(
        f"cannot reach the database at postgresql://postgres@127.0.0.1:{port}/x: "
        "the connection was refused"
    )
    assert "check STRIPE2SF_DATABASE_URL" in check.fix


# ---- Salesforce ---------------------------------------------------------------------------


def test_a_stopped_salesforce_is_told_in_words() -> None:
    where = f"https://127.0.0.1:{free_port()}"
    s = settings(
        salesforce_login_url=where,
        salesforce_username="integration@example.com",
        salesforce_password="pw",
        salesforce_security_token="token",
    )
    with pytest.raises(SyncError) as caught:
        connect(s)
    check = salesforce_login_failure(s, caught.value)
    assert not check.ok and check.name == "Salesforce login"
    plain(check)
    assert check.detail.startswith(
        f"cannot reach Salesforce at {where}: the connection was refused"
    )
    assert "check SALESFORCE_LOGIN_URL" in check.fix
