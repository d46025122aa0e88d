"""Catch-up against the Stripe sandbox: what it stores, where each round starts, and how it
gets through Stripe's 500s and 429s (the sandbox's fault knobs) without losing or repeating
an event."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select

from stripe2sf.domain.backfill.catchup import FAILURES_BEFORE_ALERT, Round
from stripe2sf.engine.catchup import CatchUpFailed, catch_up
from stripe2sf.engine.catchup_loop import catch_up_once
from stripe2sf.engine.handlers import Registry
from stripe2sf.engine.monitor import Monitor
from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.store.catchup_state import CatchUpState
from stripe2sf.store.reports import Reports
from stripe2sf.store.tables import events
from stripe2sf.stripe.reader import StripeReader
from stripe2sf.web.app import create_app
from stripe2sf.web.intake import to_new_event
from stripe_sandbox.testing import RunningSandbox, run_sandbox
from tests.support.events import encode, event
from tests.support.servers import serve_in_thread
from tests.support.smtp import Mailbox


@pytest.fixture
def box() -> Iterator[RunningSandbox]:
    with run_sandbox() as running:
        yield running


def runtime_on(box: RunningSandbox, db_url: str) -> Runtime:
    settings = load_settings(
        database_url=db_url,
        stripe_api_key=box.api_key,
        stripe_api_base=box.api_base,
        stripe_webhook_secrets=["whsec_placeholder"],
    )
    return Runtime.build(settings, registry=Registry())


def subscribe(client: stripe.StripeClient, email: str) -> str:
    """A customer on a monthly price: events whose objects carry `*_decimal` fields
    (price, plan, subscription items, invoice lines)."""
    customer = client.v1.customers.create({"email": email, "name": "Dee Cimal"})
    pm = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    product = client.v1.products.create({"name": "Plan"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 1250,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    return customer.id


def reader(runtime: Runtime) -> StripeReader:
    found = runtime.stripe_reader()
    assert found is not None
    return found


def stored(runtime: Runtime) -> dict[str, dict[str, Any]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(events.c.event_id, events.c.payload)).all()
    return {r.event_id: json.loads(r.payload) for r in rows}


def stripe_event_ids(client: stripe.StripeClient) -> list[str]:
    return [e.id for e in client.v1.events.list({"limit": 100}).auto_paging_iter()]


def test_a_caught_up_event_is_stored_as_the_webhook_carried_it(
    box: RunningSandbox, tmp_path: Path
) -> None:
    client = box.client()
    hooked = runtime_on(box, f"sqlite:///{tmp_path / 'webhook.db'}")
    caught = runtime_on(box, f"sqlite:///{tmp_path / 'catchup.db'}")
    try:
        with serve_in_thread(create_app(hooked, run_worker=False)) as url:
            endpoint = client.v1.webhook_endpoints.create(
                {"url": url + "/webhooks/stripe", "enabled_events": ["*"]}
            )
            hooked.settings.stripe_webhook_secrets = [str(endpoint.secret)]
            subscribe(client, "decimal@catchup.example")
            assert box.wait_idle(timeout=20)
        report = catch_up(caught.inbox, reader(caught), caught.registry)
        via_webhook, via_catchup = stored(hooked), stored(caught)
    finally:
        hooked.close()
        caught.close()

    assert report.added == len(via_catchup) == len(via_webhook) > 10
    assert set(via_catchup) == set(via_webhook)
    assert "_decimal" in json.dumps(via_catchup), "the regression needs *_decimal fields"
    for event_id, webhook_doc in via_webhook.items():
        # pending_webhooks counts deliveries still owed at the moment Stripe renders the
        # event: a live counter, different in every rendering, in real Stripe as well
        webhook_doc.pop("pending_webhooks")
        via_catchup[event_id].pop("pending_webhooks")
        assert via_catchup[event_id] == webhook_doc, event_id


def test_a_delivery_dropped_long_before_the_newest_stored_event_is_still_caught_up(
    box: RunningSandbox, tmp_path: Path
) -> None:
    """Rounds rest on what the last completed round listed, not on the newest stored event:
    an event dropped 30 minutes before a later one arrived is listed by the next round."""
    client = box.client()
    runtime = runtime_on(box, f"sqlite:///{tmp_path / 'stripe2sf.db'}")
    try:
        client.v1.customers.create({"email": "first@window.example"})
        assert catch_up(runtime.inbox, reader(runtime), runtime.registry).added == 1
        dropped = client.v1.customers.create({"email": "dropped@window.example"})
        box.advance_time(30 * 60)
        later = client.v1.customers.create({"email": "later@window.example"})
        # the later event arrives as a webhook, exactly as Stripe renders it
        raw = client.raw_request("get", "/v1/events", limit=1)
        [doc] = json.loads(raw.body)["data"]
        assert doc["data"]["object"]["id"] == later.id
        runtime.inbox.add(to_new_event(doc, json.dumps(doc), False, "webhook"), datetime.now(UTC))

        catch_up(runtime.inbox, reader(runtime), runtime.registry)
        objects = {doc["data"]["object"]["id"] for doc in stored(runtime).values()}
    finally:
        runtime.close()
    assert dropped.id in objects, "the dropped delivery was never listed again"


def test_catch_up_through_stripe_500s_and_429s_stores_every_event_exactly_once(
    box: RunningSandbox, db_url: str
) -> None:
    """Stripe fails in the middle of rounds: a 429 storm outlasts a round's retries (it stops,
    keeping its cursor), then 500s that the retries ride out. The next round resumes after
    the cursor: across rounds every event is listed exactly once, none is skipped."""
    client = box.client()
    subscribe(client, "faults@catchup.example")
    for i in range(230):
        client.v1.customers.create({"email": f"c{i}@faults.example"})
    expected = stripe_event_ids(client)
    assert len(expected) > 200  # three pages
    runtime = runtime_on(box, db_url)
    listed: list[int] = []
    sleeps: list[float] = []
    faults = iter(
        [
            {"api_fail_next": 50, "api_fail_status": 429},  # more than a round's retries
            {"api_fail_next": 4, "api_fail_status": 500},  # the SDK's 2 retries, then ours
        ]
    )

    def after_first_page(count: int, _added: int) -> None:
        if count == 100:  # the first page of the round is stored: now Stripe fails
            box.faults(**next(faults))

    try:
        with pytest.raises(CatchUpFailed) as failed:
            catch_up(
                runtime.inbox,
                reader(runtime),
                runtime.registry,
                sleep=sleeps.append,
                on_page=after_first_page,
            )
        assert failed.value.listed == 100 and failed.value.kind == "stripe.rate_limited"
        assert failed.value.checkpoint.failures == 1
        unfinished = failed.value.checkpoint.unfinished
        assert unfinished is not None and unfinished.cursor is not None
        assert len(stored(runtime)) == 100
        listed.append(failed.value.listed)
        box.faults(api_fail_next=0)

        report = catch_up(
            runtime.inbox,
            reader(runtime),
            runtime.registry,
            sleep=sleeps.append,
            on_page=lambda n, a: after_first_page(n, a),
        )
        assert report.resumed
        listed.append(report.listed)
        checkpoint = CatchUpState(runtime.engine).load()
        again = catch_up(runtime.inbox, reader(runtime), runtime.registry)
        with runtime.engine.connect() as conn:
            rows = conn.execute(select(events.c.event_id, events.c.source)).all()
            per_id = dict(
                conn.execute(
                    select(events.c.event_id, func.count()).group_by(events.c.event_id)
                ).all()
            )
    finally:
        runtime.close()

    assert sum(listed) == len(expected), "a page was listed twice or skipped"
    assert sorted(r.event_id for r in rows) == sorted(expected)
    assert set(per_id.values()) == {1} and {r.source for r in rows} == {"catchup"}
    assert len(sleeps) >= 6, "the 429s were retried with backoff before the round stopped"
    assert checkpoint.unfinished is None and checkpoint.failures == 0
    assert checkpoint.listed_until is not None
    assert again.added == 0 and not again.resumed


def test_rounds_that_keep_failing_alert_and_a_completed_round_recovers(
    box: RunningSandbox, tmp_path: Path, mailbox: Mailbox
) -> None:
    client = box.client()
    client.v1.customers.create({"email": "alert@catchup.example"})
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'stripe2sf.db'}",
        stripe_api_key=box.api_key,
        stripe_api_base=box.api_base,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        alert_email_to=["ops@example.com"],
    )
    runtime = Runtime.build(settings, registry=Registry())
    try:
        box.faults(api_fail_next=10_000, api_fail_status=429)
        for round_no in range(1, FAILURES_BEFORE_ALERT + 1):
            with pytest.raises(CatchUpFailed):
                catch_up_once(runtime, sleep=lambda _s: None)
            assert len(mailbox.messages) == (0 if round_no < FAILURES_BEFORE_ALERT else 1)
        [alert] = mailbox.messages
        assert "Catch-up has failed 3 rounds in a row" in str(alert["Subject"])
        assert "Stripe rate limit" in str(alert.get_payload())
        box.faults(api_fail_next=0)
        report = catch_up_once(runtime, sleep=lambda _s: None)
    finally:
        runtime.close()
    assert report is not None and report.added == 1
    assert len(mailbox.messages) == 2
    assert str(mailbox.messages[1]["Subject"]).startswith("[stripe2sf] Recovered: catch-up")


def test_stripes_rate_limit_is_waited_out_within_the_round(
    box: RunningSandbox, tmp_path: Path
) -> None:
    client = box.client()
    for i in range(210):
        client.v1.customers.create({"email": f"r{i}@ratelimit.example"})
    expected = stripe_event_ids(client)
    box.settings(api_rate_limit=1)  # Stripe's global limit: 429 rate_limit beyond 1/s
    runtime = runtime_on(box, f"sqlite:///{tmp_path / 'stripe2sf.db'}")
    try:
        waits: list[float] = []

        def wait(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        report = catch_up(runtime.inbox, reader(runtime), runtime.registry, sleep=wait)
        ids = set(stored(runtime))
    finally:
        box.settings(api_rate_limit=0)
        runtime.close()
    assert waits, "the test must meet Stripe's rate limit"
    assert report.listed == len(expected) == len(ids) and ids == set(expected)


def test_the_monitor_alerts_when_catch_up_has_not_completed_for_too_long(
    box: RunningSandbox, tmp_path: Path, mailbox: Mailbox
) -> None:
    """Fresh webhooks keep arriving, but no catch-up round has completed for 26 days: what
    Stripe dropped meanwhile is about to fall out of its retention."""
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'stripe2sf.db'}",
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        alert_email_to=["ops@example.com"],
        alert_catchup_days=25,
    )
    runtime = Runtime.build(settings, registry=Registry())
    now = datetime.now(UTC)
    try:
        state = CatchUpState(runtime.engine)
        state.complete(Round(now - timedelta(days=27), now - timedelta(days=26)), now)
        doc = event("evt_fresh", customer="cus_fresh", created=int(now.timestamp()))
        runtime.inbox.add(to_new_event(doc, encode(doc), True, "webhook"), now)
        monitor = Monitor(
            settings, runtime.alerter, Reports(runtime.engine), runtime.inbox, lambda: None
        )
        sent = monitor.check(now)
    finally:
        runtime.close()
    assert sent["catchup_window"] == "alert"
    assert any("Catch-up must reach back 26" in str(m["Subject"]) for m in mailbox.messages)
