"""Business figures and operations statistics (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from stripe2sf.domain.figures import (
    business_figures,
    error_rate,
    latency_series,
    manual_hours,
    per_minute,
    percentile,
)


def ev(obj: dict[str, object]) -> str:
    return json.dumps({"data": {"object": obj}})


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


def test_per_minute_and_latency_series() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(seconds=s) for s in (1, 30, 61, 3600)]
    assert per_minute(times, start, 3) == [2, 1, 0]
    samples = [(start + timedelta(minutes=1), 1.0), (start + timedelta(minutes=2), 3.0)]
    series = latency_series(samples, start, 10, step=5)
    assert series[0] == (start, 1.0, 3.0)
    assert series[1][1:] == (None, None)


def test_error_rate() -> None:
    assert error_rate({}) is None
    assert error_rate({"done": 6, "retry": 3, "dead": 1}) == 0.4


def test_business_figures_from_billing_events() -> None:
    hour = 3600
    events = [
        ("invoice.paid", 0, ev({"id": "in_0", "customer": "cus_A", "amount_paid": 1000})),
        ("invoice.payment_failed", 10, ev({"id": "in_1", "customer": "cus_A"})),
        ("invoice.payment_failed", 20, ev({"id": "in_1", "customer": "cus_A"})),  # retry
        ("invoice.payment_failed", 30, ev({"id": "in_2", "customer": "cus_B"})),
        ("invoice.payment_failed", 40, ev({"id": "in_3", "customer": "cus_C"})),
        (
            "invoice.paid",
            10 + 5 * hour,
            ev({"id": "in_1", "customer": "cus_A", "amount_paid": 2500, "currency": "usd"}),
        ),
        (
            "invoice.payment_succeeded",  # the same payment again: counted once
            10 + 5 * hour,
            ev({"id": "in_1", "customer": "cus_A", "amount_paid": 2500, "currency": "usd"}),
        ),
        (
            "invoice.paid",
            30 + 48 * hour,
            ev({"id": "in_2", "customer": "cus_B", "amount_paid": 300, "currency": "jpy"}),
        ),
        ("customer.subscription.deleted", 50 * hour, ev({"customer": "cus_C"})),
        ("customer.subscription.deleted", 50 * hour, ev({"customer": "cus_D"})),  # voluntary
        ("invoice.paid", 60, ev({"id": "in_9", "customer": "cus_D", "amount_paid": 100})),
    ]
    figures = business_figures(events)
    assert figures.failed_payments == 3
    assert figures.resolved == 2
    assert figures.open_failures == 1
    assert sorted(figures.resolve_hours) == [5.0, 48.0]
    assert figures.median_resolve_hours == 5.0
    assert figures.recovered == {"USD": 2500, "JPY": 300}
    assert figures.customers_billed == 4
    assert figures.churned_after_failure == 1
    assert figures.involuntary_churn_rate == 0.25
    assert dict(figures.histogram)["< 1 day"] == 1
    assert dict(figures.histogram)["1-3 days"] == 1


def test_manual_hours() -> None:
    assert manual_hours(90, 2.0) == 3.0
