"""The batch linger (`STRIPE2SF_BATCH_LINGER_MS`): a lane woken by a delivery is due `linger`
later, so a customer's burst of events is claimed together; a lane already due (a backlog)
is never pushed back by a new delivery; captured Salesforce changes never linger (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stripe2sf.domain.capture.change import SalesforceChange
from stripe2sf.store.capture import to_new_event as capture_event
from stripe2sf.store.db import make_engine, upgrade
from stripe2sf.store.inbox import Inbox
from stripe2sf.web.intake import to_new_event
from tests.support.events import encode, event

LEASE = timedelta(seconds=60)
LINGER = timedelta(seconds=5)
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _put(inbox: Inbox, event_id: str, customer: str, at: datetime, type_: str) -> None:
    doc = event(event_id, type=type_, customer=customer, created=int(at.timestamp()))
    inbox.add(to_new_event(doc, encode(doc), True, "webhook"), at)


def test_a_burst_waits_the_linger_and_is_claimed_at_once(db_url: str) -> None:
    upgrade(db_url)
    inbox = Inbox(make_engine(db_url), linger=LINGER)
    _put(inbox, "evt_1", "cus_burst", T0, "customer.created")
    _put(inbox, "evt_2", "cus_burst", T0 + timedelta(milliseconds=40), "charge.succeeded")
    assert inbox.claim_batch("A", T0 + timedelta(seconds=1), LEASE, 10, 10) == []
    [claim] = inbox.claim_batch("A", T0 + LINGER, LEASE, 10, 10)
    assert [e.event_id for e in claim.events] == ["evt_1", "evt_2"]


def test_a_lane_already_due_is_not_pushed_back_by_a_new_delivery(db_url: str) -> None:
    upgrade(db_url)
    inbox = Inbox(make_engine(db_url), linger=LINGER)
    _put(inbox, "evt_old", "cus_backlog", T0, "charge.succeeded")
    later = T0 + timedelta(seconds=4)  # due at T0 + 5 s; a delivery now must not make it T0 + 9
    _put(inbox, "evt_new", "cus_backlog", later, "charge.succeeded")
    [claim] = inbox.claim_batch("A", T0 + LINGER, LEASE, 10, 10)
    assert [e.event_id for e in claim.events] == ["evt_old", "evt_new"]


def test_no_linger_makes_a_lane_due_at_once(db_url: str) -> None:
    upgrade(db_url)
    inbox = Inbox(make_engine(db_url))
    _put(inbox, "evt_now", "cus_now", T0, "charge.succeeded")
    [claim] = inbox.claim_batch("A", T0, LEASE, 10, 10)
    assert [e.event_id for e in claim.events] == ["evt_now"]


def test_a_captured_salesforce_change_skips_the_linger(db_url: str) -> None:
    """Captured changes become Stripe writes, one request each: lingering gains nothing."""
    upgrade(db_url)
    inbox = Inbox(make_engine(db_url), linger=LINGER)
    change = SalesforceChange(
        entity="Contact",
        change="updated",
        record_id="003000000000001AAA",
        fields={"Email": "a@example.com"},
        changed=("Email",),
        commit_ts_ms=int(T0.timestamp() * 1000),
        source="cdc",
        position="tx:1",
        customer_id="cus_rep",
    )
    inbox.add(capture_event(change, True, "62.0"), T0)
    _put(inbox, "evt_stripe", "cus_burst2", T0, "customer.created")  # a webhook lingers
    [claim] = inbox.claim_batch("A", T0, LEASE, 10, 10)
    assert [e.event_id for e in claim.events] == [change.event_id]
