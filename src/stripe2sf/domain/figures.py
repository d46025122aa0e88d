"""Business figures and operations statistics from what stripe2sf records (pure).

Times of billing facts are Stripe's `created` (the business clock, also under test clocks);
sync latencies are wall-clock times of our own inbox.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q from 0 to 1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def per_minute(times: Iterable[datetime], start: datetime, minutes: int) -> list[int]:
    """Counts per minute from `start` for `minutes` minutes."""
    buckets = [0] * minutes
    for t in times:
        index = int((t - start).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index] += 1
    return buckets


def latency_series(
    samples: Iterable[tuple[datetime, float]], start: datetime, minutes: int, step: int = 5
) -> list[tuple[datetime, float | None, float | None]]:
    """(bucket start, p50, p95) per `step` minutes."""
    groups: dict[int, list[float]] = defaultdict(list)
    for at, seconds in samples:
        index = int((at - start).total_seconds() // (60 * step))
        if 0 <= index < math.ceil(minutes / step):
            groups[index].append(seconds)
    out = []
    for i in range(math.ceil(minutes / step)):
        values = groups.get(i, [])
        out.append(
            (start + timedelta(minutes=i * step), percentile(values, 0.5), percentile(values, 0.95))
        )
    return out


def error_rate(outcomes: dict[str, int]) -> float | None:
    total = sum(outcomes.values())
    if not total:
        return None
    return (outcomes.get("retry", 0) + outcomes.get("dead", 0)) / total


@dataclass(frozen=True)
class BusinessFigures:
    failed_payments: int
    resolved: int
    open_failures: int
    resolve_hours: list[float]  # one per resolved failure (Stripe time)
    recovered: dict[str, int]  # currency -> minor units recovered after a failure
    customers_billed: int
    churned_after_failure: int
    histogram: list[tuple[str, int]] = field(default_factory=list)

    @property
    def median_resolve_hours(self) -> float | None:
        return percentile(self.resolve_hours, 0.5)

    @property
    def involuntary_churn_rate(self) -> float | None:
        if not self.customers_billed:
            return None
        return self.churned_after_failure / self.customers_billed


HISTOGRAM_EDGES = ((1, "< 1 h"), (24, "< 1 day"), (72, "1-3 days"), (168, "3-7 days"))


def _histogram(hours: Sequence[float]) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for h in hours:
        label = next((name for edge, name in HISTOGRAM_EDGES if h < edge), "> 7 days")
        counts[label] += 1
    labels = [name for _, name in HISTOGRAM_EDGES] + ["> 7 days"]
    return [(label, counts[label]) for label in labels]


def _obj(payload: str) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except ValueError:
        return {}
    data = doc.get("data") if isinstance(doc, dict) else None
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else {}


def business_figures(billing_events: Iterable[tuple[str, int, str]]) -> BusinessFigures:
    """From (type, created, payload) of invoice and subscription-deleted events, oldest first."""
    first_failure: dict[str, tuple[int, str]] = {}  # invoice id -> (created, customer)
    failed_customers: dict[str, int] = {}  # customer -> first failure time
    resolved_at: dict[str, int] = {}
    recovered: Counter[str] = Counter()
    billed: set[str] = set()
    churned: set[str] = set()
    for event_type, created, payload in billing_events:
        obj = _obj(payload)
        customer = str(obj.get("customer") or "")
        if event_type == "invoice.payment_failed":
            invoice = str(obj.get("id") or "")
            if customer:
                billed.add(customer)
                failed_customers.setdefault(customer, created)
            if invoice and invoice not in first_failure:
                first_failure[invoice] = (created, customer)
        elif event_type in ("invoice.paid", "invoice.payment_succeeded"):
            invoice = str(obj.get("id") or "")
            if customer and int(obj.get("amount_paid") or 0) > 0:
                billed.add(customer)
            if invoice in first_failure and invoice not in resolved_at:
                resolved_at[invoice] = created
                currency = str(obj.get("currency") or "usd").upper()
                recovered[currency] += int(obj.get("amount_paid") or 0)
        elif event_type == "customer.subscription.deleted":
            since = failed_customers.get(customer)
            if since is not None and since <= created:
                churned.add(customer)
    hours = [
        max(0.0, (resolved_at[i] - first_failure[i][0]) / 3600.0)
        for i in first_failure
        if i in resolved_at
    ]
    return BusinessFigures(
        failed_payments=len(first_failure),
        resolved=len(hours),
        open_failures=len(first_failure) - len(hours),
        resolve_hours=hours,
        recovered=dict(recovered),
        customers_billed=len(billed),
        churned_after_failure=len(churned),
        histogram=_histogram(hours),
    )


def manual_hours(records_checked: int, minutes_per_record: float) -> float:
    """The hours a person would spend checking these records by hand (an estimate)."""
    return records_checked * minutes_per_record / 60.0
