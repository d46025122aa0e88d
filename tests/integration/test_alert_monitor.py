"""Condition alerts reach a real SMTP server (aiosmtpd) once per period, then recover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from stripe2sf.domain.errors import RetryableError
from stripe2sf.domain.intake_health import SIGNATURE_MISMATCH, SIGNATURE_MISSING, TOO_LARGE
from stripe2sf.engine.alerts import Alerter
from stripe2sf.engine.handlers import Registry
from stripe2sf.engine.intake_report import intake_report
from stripe2sf.engine.monitor import Monitor, reconcile_alert
from stripe2sf.engine.reachability import NOT_CONFIGURED, ServiceCheck
from stripe2sf.runtime import Runtime
from stripe2sf.salesforce.usage import ApiUsageSnapshot
from stripe2sf.settings import load_settings
from stripe2sf.store.alert_log import AlertLog
from stripe2sf.store.inbox import StoredEvent
from stripe2sf.store.intake_health import IntakeHealthStore
from stripe2sf.store.reports import Reports
from stripe2sf.web.intake import IntakeTally, to_new_event
from tests.support.events import encode, event
from tests.support.smtp import Mailbox


@pytest.fixture
def runtime(sqlite_url: str, mailbox: Mailbox) -> Iterator[Runtime]:
    settings = load_settings(
        database_url=sqlite_url,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        alert_email_to=["ops@example.com"],
        alert_period_seconds=3600,
        alert_min_attempts=4,
        alert_error_rate=0.5,
        alert_window_seconds=300,
        alert_bad_signatures=3,
        alert_api_usage=0.9,
        alert_catchup_days=25,
    )
    rt = Runtime.build(settings, registry=Registry())
    yield rt
    rt.close()


def put(rt: Runtime, event_id: str, customer: str, created: datetime) -> None:
    doc = event(
        event_id, type="charge.succeeded", customer=customer, created=int(created.timestamp())
    )
    rt.inbox.add(to_new_event(doc, encode(doc), handled=True, source="webhook"), datetime.now(UTC))


def refuse(rt: Runtime, at: datetime, count: int, reason: str = SIGNATURE_MISMATCH) -> None:
    """`count` deliveries refused at `at`, flushed to the shared counts as serve's tally does."""
    tally = IntakeTally(IntakeHealthStore(rt.engine), clock=at.timestamp)
    for _ in range(count):
        tally.refused_quietly(reason)
    tally.flush()


def subjects(box: Mailbox) -> list[str]:
    return sorted(" ".join(str(m["Subject"]).split()) for m in box.messages)


def test_conditions_alert_once_per_period_and_recover(runtime: Runtime, mailbox: Mailbox) -> None:
    def failing(event: StoredEvent) -> None:
        raise RetryableError("Salesforce answered 503", kind="salesforce.503")

    runtime.registry.register("charge.succeeded", failing)
    now = datetime.now(UTC)
    for i in range(4):  # four lanes, each fails once: error rate 100 %
        put(runtime, f"evt_{i}", f"cus_{i}", now - timedelta(days=26))
    worker = runtime.worker()
    while worker.run_once():
        pass

    usage = {"used": 950}
    refuse(runtime, datetime.now(UTC), 3)
    monitor = Monitor(
        runtime.settings,
        runtime.alerter,
        Reports(runtime.engine),
        runtime.inbox,
        lambda: ApiUsageSnapshot(usage["used"], 1000, time.time()),
    )
    sent = monitor.check(datetime.now(UTC))
    assert sent == {
        "error_rate": "alert",
        "api_usage": "alert",
        "bad_signatures": "alert",
        "catchup_window": "alert",
    }
    assert len(mailbox.messages) == 4
    titles = subjects(mailbox)
    assert any("Error rate 100%" in t for t in titles)
    assert any("API usage at 95%" in t for t in titles)
    assert any("3 webhooks with bad signatures" in t for t in titles)
    assert any("Catch-up must reach back 26" in t for t in titles)

    # Still firing a minute later: nothing more within the period.
    again = monitor.check(datetime.now(UTC) + timedelta(minutes=1))
    assert set(again.values()) == {None}
    assert len(mailbox.messages) == 4

    # Everything clears: one recovery message per condition.
    usage["used"] = 100
    put(runtime, "evt_fresh", "cus_fresh", datetime.now(UTC))
    later = datetime.now(UTC) + timedelta(seconds=400)  # past the window of failures and refusals
    recovered = monitor.check(later)
    assert set(recovered.values()) == {"recovered"}
    assert len(mailbox.messages) == 8
    assert sum(t.startswith("[stripe2sf] Recovered:") for t in subjects(mailbox)) == 4
    assert set(monitor.check(later + timedelta(seconds=1)).values()) == {None}
    assert len(mailbox.messages) == 8

    # The history holds the eight, newest first, with what was sent and which recovered.
    history = AlertLog(runtime.engine).sent()
    assert len(history) == 8 and [a.recovered for a in history] == [True] * 4 + [False] * 4
    alerted = {a.subject for a in history if not a.recovered}
    assert alerted == {t.removeprefix("[stripe2sf] ") for t in titles}
    refusals = next(a for a in history if a.kind == "bad_signatures")
    assert refusals.message is not None and "STRIPE_WEBHOOK_SECRET" in refusals.message


def test_reconciliation_drift_alert_and_recovery(runtime: Runtime, mailbox: Mailbox) -> None:
    monitor = Monitor(
        runtime.settings, runtime.alerter, Reports(runtime.engine), runtime.inbox, lambda: None
    )
    monitor.reconciled("run-1", drift=3, checked=120)
    monitor.reconciled("run-2", drift=2, checked=120)  # same period: held back
    monitor.reconciled("run-3", drift=0, checked=120)
    assert [" ".join(str(m["Subject"]).split()) for m in mailbox.messages] == [
        "[stripe2sf] Reconciliation found 3 difference(s) between Stripe and Salesforce",
        "[stripe2sf] Recovered: reconciliation found no drift",
    ]
    assert "run-1: 120 records compared, 3 differ" in str(mailbox.messages[0].get_payload())


def test_reconcile_alert_of_one_shot_runs_follows_the_previous_run(
    runtime: Runtime, mailbox: Mailbox
) -> None:
    """`stripe2sf reconcile` is a new process each time: whether the drift condition held
    before comes from the previous run in the database, not from memory."""
    first = Alerter(runtime.settings, AlertLog(runtime.engine))
    assert reconcile_alert(first, 1, drift=4, checked=50, previous_drift=None) == "alert"
    fresh = Alerter(runtime.settings, AlertLog(runtime.engine))  # the next process
    assert reconcile_alert(fresh, 2, drift=0, checked=50, previous_drift=4) == "recovered"
    again = Alerter(runtime.settings, AlertLog(runtime.engine))
    assert reconcile_alert(again, 3, drift=0, checked=50, previous_drift=0) is None
    assert [" ".join(str(m["Subject"]).split()) for m in mailbox.messages] == [
        "[stripe2sf] Reconciliation found 4 difference(s) between Stripe and Salesforce",
        "[stripe2sf] Recovered: reconciliation found no drift",
    ]


def test_refused_signature_alert_fires_on_every_process_total(
    db_url: str, mailbox: Mailbox
) -> None:
    """Two serve processes each refuse fewer bad signatures than the threshold; together they
    reach it. The monitor (in a third process, which refused none) alerts on the total, and
    the report the overview and `stripe2sf status` show says firing at the same moments."""
    settings = load_settings(
        database_url=db_url,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        alert_email_to=["ops@example.com"],
        alert_period_seconds=3600,
        alert_window_seconds=300,
        alert_bad_signatures=4,
    )
    rt = Runtime.build(settings, registry=Registry())
    try:
        now = datetime.now(UTC)
        stripe = ServiceCheck("Stripe", NOT_CONFIGURED, "not configured", "", now)
        salesforce = ServiceCheck("Salesforce", NOT_CONFIGURED, "not configured", "", now)
        monitor = Monitor(settings, rt.alerter, Reports(rt.engine), rt.inbox, lambda: None)

        def both(at: datetime) -> tuple[str | None, bool, int]:
            sent = monitor.check(at)["bad_signatures"]
            alert = intake_report(settings, rt.engine, stripe, salesforce, at).alert
            return sent, alert.firing, alert.bad_signatures

        refuse(rt, now, 2)  # serve process A
        refuse(rt, now, 3, TOO_LARGE)  # refused, but not for a signature: not counted
        assert both(now) == (None, False, 2)
        assert mailbox.messages == []
        refuse(rt, now, 1, SIGNATURE_MISSING)  # serve process B
        refuse(rt, now, 1)
        assert both(now) == ("alert", True, 4)
        [message] = mailbox.messages
        assert "4 webhooks with bad signatures" in str(message["Subject"])
        report = intake_report(settings, rt.engine, stripe, salesforce, now)
        assert report.alert.sent is not None and report.alert.sent.last_sent_at == now
        assert both(now + timedelta(minutes=1)) == (None, True, 4)  # held back: one per period
        later = now + timedelta(seconds=400)  # the refusals left the window
        assert both(later) == ("recovered", False, 0)
        assert "Recovered: webhook signatures back to normal" in str(
            mailbox.messages[-1]["Subject"]
        )
    finally:
        rt.close()
