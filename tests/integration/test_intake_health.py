"""A broken intake is visible (issue #16): the real app with both sandboxes on loopback, Stripe
delivering its webhooks. Deliveries signed with another secret are counted as refused by
reason (in the buckets every process reads), logged with the client's address, and shown by
`stripe2sf status` (text and --json) with a banner; the overview shows the same in headless
Chromium, to operators with the error details and to viewers without them. Stripe refusing the
API key and a refused Salesforce login are said in plain words."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from playwright.sync_api import Page
from typer.testing import CliRunner

from stripe2sf.cli import app as cli
from stripe2sf.domain.intake_health import ACCEPTED, SIGNATURE_MISMATCH, minute_of
from stripe2sf.store import db
from stripe2sf.store.intake_health import IntakeHealth, IntakeHealthStore
from stripe2sf.web.dashboard.auth import hash_password
from stripe2sf.web.intake import IntakeTally
from tests.support.sync_env import SyncEnv, sync_env

USERS = [
    f"olga:operator:{hash_password('olga-pass', n=2**12)}",
    f"vera:viewer:{hash_password('vera-pass', n=2**12)}",
]


@dataclass
class World:
    env: SyncEnv
    db_url: str
    secret: str  # the endpoint's real signing secret


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('intake') / 'stripe2sf.db'}"
    with sync_env(db_url, run_worker=False, dashboard_users=USERS, alert_bad_signatures=2) as env:
        yield World(env, db_url, env.runtime.settings.stripe_webhook_secrets[0])


def health(world: World) -> IntakeHealth:
    store = IntakeHealthStore(world.env.runtime.engine)
    return store.health(datetime.now(UTC), world.env.runtime.settings.alert_window_seconds)


def cli_env(world: World, **overrides: str) -> dict[str, str]:
    s = world.env.runtime.settings
    box = world.env.salesforce
    return {
        "STRIPE2SF_DATABASE_URL": world.db_url,
        "STRIPE_API_KEY": world.env.stripe.api_key,
        "STRIPE_API_BASE": world.env.stripe.api_base,
        "STRIPE_WEBHOOK_SECRET": world.secret,
        "SALESFORCE_LOGIN_URL": box.instance_url,
        "SALESFORCE_USERNAME": box.username,
        "SALESFORCE_PASSWORD": box.password,
        "SALESFORCE_SECURITY_TOKEN": box.security_token,
        "SALESFORCE_CA_BUNDLE": str(box.ca_path),
        "STRIPE2SF_ALERT_BAD_SIGNATURES": str(s.alert_bad_signatures),
        "STRIPE2SF_CATCHUP_SECONDS": "300",
        **overrides,
    }


def status(world: World, *args: str, **env: str) -> str:
    """`stripe2sf status` in this process: its own settings and database engine, as another
    process would have (it sees only what `serve` flushed to the database)."""
    result = CliRunner().invoke(cli, ["status", *args], env=cli_env(world, **env))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_buckets_add_up_across_flushes_and_processes_and_old_ones_go(db_url: str) -> None:
    """Two processes' tallies flush into the same buckets; the newest time wins; buckets older
    than the retention are deleted by a flush."""
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    try:
        clock = minute_of(time.time()) * 60 + 30.0  # both tallies count in this minute
        now = datetime.fromtimestamp(clock + 1, UTC)
        store = IntakeHealthStore(engine)
        serve_a = IntakeTally(store, clock=lambda: clock)
        serve_b = IntakeTally(IntakeHealthStore(engine), clock=lambda: clock - 20)
        for _ in range(3):
            serve_a.accepted("stored")
        serve_a.refused_quietly(SIGNATURE_MISMATCH)
        serve_b.accepted("stored")
        serve_b.refused_quietly(SIGNATURE_MISMATCH)
        serve_a.flush()
        serve_b.flush()
        serve_a.accepted("duplicate")
        serve_a.flush()
        serve_a.flush()  # nothing new: nothing written
        found = store.health(now, 300)
        assert found.hour.accepted == {"stored": 4, "duplicate": 1}
        assert found.hour.refused == {SIGNATURE_MISMATCH: 2}
        assert found.alert_window.bad_signatures == 2
        assert found.last_accepted_at is not None
        assert abs(found.last_accepted_at.timestamp() - clock) < 0.01  # a's, not b's older one
        assert found.last_refused_reason == SIGNATURE_MISMATCH
        assert store.bucket_count() == 3  # (minute, outcome, reason): both added to the same
        # a day and more later: the old buckets go, the latest times stay
        later = now + store.keep + timedelta(minutes=2)
        store.add({(minute_of(later.timestamp()), ACCEPTED, "stored"): (1, later)}, later)
        assert store.bucket_count() == 1
        after = store.health(later, 300)
        assert after.hour.accepted == {"stored": 1} and after.hour.refused == {}
        assert after.last_refused_at is not None and after.last_refused_at < later
    finally:
        engine.dispose()


def test_accepted_deliveries_are_counted_and_nothing_is_wrong(world: World) -> None:
    world.env.client.v1.customers.create({"email": "ok@example.com", "name": "Ok Person"})
    wait_for(lambda: health(world).hour.accepted.get("stored"), "an accepted delivery")
    report = json.loads(status(world, "--json"))
    intake = report["intake"]
    assert intake["accepted"] >= 1 and intake["refused"] == 0, intake
    assert intake["last_accepted_at"] is not None
    assert intake["seconds_since_last_accepted"] is not None
    assert report["banners"] == []
    assert report["stripe"]["state"] == "ok", report["stripe"]
    assert report["stripe"]["newest_event_at"] is not None  # customer.created
    assert report["salesforce"]["state"] == "ok", report["salesforce"]
    assert report["salesforce_api"]["limit"] > 0  # the same /limits call
    assert report["signature_alert"]["firing"] is False
    assert report["catchup"]["enabled"] is True and report["catchup"]["last_run_at"] is None
    text = status(world)
    assert "webhooks refused in the last hour: 0" in text
    assert "Stripe: reachable, API key accepted" in text
    assert "Salesforce: reachable, logged in" in text


def test_a_wrong_webhook_secret_is_visible_in_status(world: World) -> None:
    before = health(world).hour.accepted_total
    world.env.runtime.settings.stripe_webhook_secrets = ["whsec_not_the_endpoints"]
    with structlog.testing.capture_logs() as logs:
        for n in range(2):
            world.env.client.v1.customers.create({"email": f"refused{n}@example.com"})
        wait_for(
            lambda: health(world).hour.refused.get(SIGNATURE_MISMATCH, 0) >= 2,
            "two refused deliveries in the shared counts",
        )
    refused = [entry for entry in logs if entry["event"] == "webhook_refused"]
    assert refused and all(entry["client"] == "127.0.0.1" for entry in refused), refused
    assert refused[0]["reason"] == SIGNATURE_MISMATCH

    report = json.loads(status(world, "--json"))
    intake = report["intake"]
    assert intake["refused_by_reason"][SIGNATURE_MISMATCH] >= 2, intake
    assert intake["accepted"] == before  # nothing accepted since the secret changed
    assert intake["last_refused_reason"] == SIGNATURE_MISMATCH
    kinds = [b["kind"] for b in report["banners"]]
    assert "refused" in kinds, report["banners"]
    banner = next(b for b in report["banners"] if b["kind"] == "refused")
    assert "signature matches no configured webhook secret" in banner["message"]
    assert "STRIPE_WEBHOOK_SECRET" in banner["fix"]
    assert report["signature_alert"]["firing"] is True  # threshold 2 in this world
    text = status(world)
    assert "! " in text and "webhook deliveries refused" in text
    assert "refused-signature alert: FIRING" in text


def test_status_says_why_stripe_and_salesforce_refuse(world: World) -> None:
    world.env.stripe.settings(api_keys=[world.env.stripe.api_key])
    try:
        report = json.loads(
            status(
                world,
                "--json",
                STRIPE_API_KEY="sk_test_revoked000000000000",
                SALESFORCE_PASSWORD="wrong-password",
            )
        )
    finally:
        world.env.stripe.settings(api_keys=[])
    assert report["stripe"]["state"] == "failing"
    assert report["stripe"]["summary"] == "Stripe refused the API key"
    assert report["salesforce"]["state"] == "failing"
    assert report["salesforce"]["summary"].startswith("Salesforce login failed: ")
    assert "INVALID_LOGIN" in report["salesforce"]["summary"], report["salesforce"]
    assert "error" in report["salesforce_api"]
    # unreachable: nothing listens on port 9
    unreachable = json.loads(status(world, "--json", STRIPE_API_BASE="http://127.0.0.1:9"))
    assert unreachable["stripe"]["summary"] == "cannot reach Stripe"


# -- the overview in a browser ----------------------------------------------------------------


def login(page: Page, base: str, user: str, password: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Overview"


def test_the_overview_shows_the_refused_deliveries_to_an_operator(world: World, page: Page) -> None:
    assert health(world).hour.refused_total >= 2  # after the wrong secret above
    login(page, world.env.url, "olga", "olga-pass")
    banner = page.locator('[data-testid=intake-banner][data-kind="refused"]')
    assert "webhook deliveries refused" in banner.inner_text()
    assert "STRIPE_WEBHOOK_SECRET" in banner.inner_text()
    assert (
        int(page.get_by_test_id("intake-refused").inner_text()) == health(world).hour.refused_total
    )
    reasons = page.get_by_test_id("intake-refused-reasons").inner_text()
    assert "signature matches no configured webhook secret" in reasons
    assert page.get_by_test_id("signature-alert").inner_text().startswith("firing")
    assert page.get_by_test_id("stripe-state").inner_text() == "reachable, API key accepted"
    assert page.get_by_test_id("salesforce-state").inner_text() == "reachable, logged in"
    assert "login to https://" in page.get_by_test_id("salesforce-state-detail").inner_text()
    assert page.get_by_test_id("intake-last-accepted").inner_text() != "never"
    assert "catch-up:" in page.get_by_test_id("catchup-state").inner_text()


def test_a_viewer_sees_the_banner_without_details(world: World, page: Page) -> None:
    login(page, world.env.url, "vera", "vera-pass")
    assert page.get_by_test_id("intake-banner").count() >= 1
    assert page.get_by_test_id("stripe-state").inner_text() == "reachable, API key accepted"
    assert page.get_by_test_id("stripe-state-detail").count() == 0
    assert page.get_by_test_id("salesforce-state-detail").count() == 0


def test_the_banner_goes_once_the_secret_is_right_and_deliveries_arrive(
    world: World, page: Page
) -> None:
    world.env.runtime.settings.stripe_webhook_secrets = [world.secret]
    world.env.stripe.retry_deliveries()  # Stripe's retries, now signed with a secret we know
    wait_for(lambda: health(world).hour.accepted_total >= 3, "the retried deliveries accepted")
    # the refused ones stay counted for the banner's window; the overview says both
    login(page, world.env.url, "olga", "olga-pass")
    assert page.get_by_test_id("intake-last-accepted").inner_text().endswith("s ago")
    banner = page.locator('[data-testid=intake-banner][data-kind="refused"]').inner_text()
    assert "accepted" in banner and "none accepted" not in banner
