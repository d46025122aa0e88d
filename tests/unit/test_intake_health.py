"""The intake health's pure decisions: refusal reasons of the real signature check, bucket
windows, the banners, the refused-signature alert condition, and the plain words of a failed
Stripe or Salesforce check."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from stripe2sf.domain.intake_health import (
    ACCEPTED,
    NO_SECRET,
    REFUSED,
    SIGNATURE_FUTURE,
    SIGNATURE_MALFORMED,
    SIGNATURE_MISMATCH,
    SIGNATURE_MISSING,
    SIGNATURE_STALE,
    STORE_FAILED,
    Counts,
    IntakeHealth,
    banners,
    first_minute,
    minute_of,
    signature_alert_firing,
    signature_reason,
    sum_buckets,
)
from stripe2sf.engine.reachability import salesforce_summary, stripe_summary
from stripe2sf.stripe.signature import SignatureRefused, verify
from tests.support.events import signed

NOW = datetime(2026, 12, 3, 12, 30, 30, tzinfo=UTC)
BODY = b'{"id": "evt_1", "object": "event"}'


def _header(secret: str, at: int) -> str:
    return signed(BODY.decode(), secret, at)["Stripe-Signature"]


@pytest.mark.parametrize(
    ("header", "secrets", "reason"),
    [
        ("wrong", ["whsec_right"], SIGNATURE_MISMATCH),
        ("stale", ["whsec_right"], SIGNATURE_STALE),
        ("future", ["whsec_right"], SIGNATURE_FUTURE),
        (None, ["whsec_right"], SIGNATURE_MISSING),
        ("t=abc,v1=00", ["whsec_right"], SIGNATURE_MALFORMED),
        ("wrong", [], NO_SECRET),
    ],
)
def test_each_refusal_of_the_real_check_has_its_reason(
    header: str | None, secrets: list[str], reason: str
) -> None:
    now = int(time.time())
    given = {
        "wrong": _header("whsec_wrong", now),
        "stale": _header("whsec_right", now - 3600),
        "future": _header("whsec_right", now + 3600),
    }.get(header or "", header)
    with pytest.raises(SignatureRefused) as refused:
        verify(BODY, given, secrets, 300)
    assert signature_reason(str(refused.value)) == reason


def test_the_right_secret_is_not_refused() -> None:
    verify(BODY, _header("whsec_right", int(time.time())), ["whsec_right"], 300)


def test_windows_cover_at_least_their_length() -> None:
    assert minute_of(NOW.timestamp()) == int(NOW.timestamp()) // 60
    start = first_minute(NOW, 3600)
    assert start == minute_of((NOW - timedelta(hours=1)).timestamp())
    rows = [
        (start - 1, REFUSED, SIGNATURE_MISMATCH, 5),  # older than the window
        (start, REFUSED, SIGNATURE_MISMATCH, 2),
        (minute_of(NOW.timestamp()), REFUSED, SIGNATURE_MISMATCH, 3),
        (minute_of(NOW.timestamp()), REFUSED, STORE_FAILED, 1),
        (start + 10, ACCEPTED, "stored", 7),
        (start + 11, ACCEPTED, "duplicate", 1),
    ]
    counts = sum_buckets(rows, start)
    assert counts.refused == {SIGNATURE_MISMATCH: 5, STORE_FAILED: 1}
    assert counts.accepted == {"stored": 7, "duplicate": 1}
    assert (counts.accepted_total, counts.refused_total, counts.bad_signatures) == (8, 6, 5)


def health(
    recent: Counts | None = None,
    last_accepted: datetime | None = None,
    alert_window: Counts | None = None,
) -> IntakeHealth:
    recent = recent or Counts()
    return IntakeHealth(recent, recent, alert_window or recent, last_accepted, None, None, 15, 300)


def test_no_banner_when_deliveries_arrive() -> None:
    fine = health(Counts({"stored": 40}), last_accepted=NOW - timedelta(seconds=5))
    assert banners(fine, NOW - timedelta(minutes=3), NOW) == []
    assert banners(health(), None, NOW) == []  # nothing in Stripe, nothing delivered


def test_refused_deliveries_raise_a_banner_with_the_fix_of_the_commonest_reason() -> None:
    refused = Counts({}, {SIGNATURE_MISMATCH: 12, STORE_FAILED: 1})
    found = banners(health(refused), None, NOW)
    assert [b.kind for b in found] == ["refused"]
    assert found[0].message.startswith("13 webhook deliveries refused in the last 15 minutes")
    assert "12 signature matches no configured webhook secret" in found[0].message
    assert "none accepted" in found[0].message
    assert "STRIPE_WEBHOOK_SECRET" in found[0].fix
    some = banners(health(Counts({"stored": 3}, {STORE_FAILED: 2})), None, NOW)
    assert "3 accepted" in some[0].message and "database" in some[0].fix


def test_silent_banner_when_stripe_has_events_no_webhook_brought() -> None:
    newest = NOW - timedelta(minutes=10)
    never = banners(health(), newest, NOW)
    assert [b.kind for b in never] == ["silent"]
    assert "no webhook was ever accepted" in never[0].message and "10 min ago" in never[0].message
    before = banners(health(last_accepted=newest - timedelta(minutes=30)), newest, NOW)
    assert [b.kind for b in before] == ["silent"] and "none arrived since" in before[0].message
    # delivered after Stripe created it: fine
    assert banners(health(last_accepted=newest + timedelta(seconds=2)), newest, NOW) == []
    # Stripe's event is too new for its delivery to be missed yet
    assert banners(health(), NOW - timedelta(seconds=30), NOW) == []


def test_the_signature_alert_condition_counts_only_signature_refusals() -> None:
    window = Counts({}, {SIGNATURE_MISMATCH: 15, SIGNATURE_STALE: 5, STORE_FAILED: 50})
    assert signature_alert_firing(health(alert_window=window), 20)
    assert not signature_alert_firing(health(alert_window=window), 21)


def test_failed_checks_in_plain_words() -> None:
    assert stripe_summary("stripe.authentication") == "Stripe refused the API key"
    assert stripe_summary("stripe.connection") == "cannot reach Stripe"
    assert stripe_summary(None) == "Stripe answered with an error"
    assert salesforce_summary("salesforce.login.INVALID_LOGIN") == (
        "Salesforce login failed: INVALID_LOGIN"
    )
    assert salesforce_summary("salesforce.timeout") == "cannot reach Salesforce"
    assert salesforce_summary("salesforce.config") == "the Salesforce settings are incomplete"


def test_status_reads_the_catchup_interval_as_the_loop_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stripe2sf.engine import catchup_loop, intake_report

    assert intake_report.DEFAULT_CATCHUP_SECONDS == catchup_loop.DEFAULT_INTERVAL
    for raw in ("", "60", "0", "junk"):
        monkeypatch.setenv("STRIPE2SF_CATCHUP_SECONDS", raw)
        assert intake_report.catchup_interval() == catchup_loop.interval_from_env()
