"""Prometheus metrics of one stripe2sf process (names and labels listed in the README).

Counters and the latency histogram are updated where things happen (webhook endpoint, worker);
gauges that describe shared state (inbox depth, dead letters, Salesforce API usage, calls
counted by the Salesforce client and the Stripe reader) are read at scrape time by
`StateCollector`, so every process reports the same truth from the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stripe2sf.salesforce.usage import ApiUsageSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Sync latency buckets in seconds: from an immediate apply to a long outage.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "stripe2sf_webhooks_received",
    "Webhook deliveries by outcome: stored, duplicate, ignored, bad_signature, too_large, "
    "not_an_event, store_failed.",
    ["outcome"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "stripe2sf_events_processed",
    "Event attempts by Stripe event type and outcome: done, retry, dead, deferred.",
    ["type", "outcome"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "stripe2sf_retries",
    "Failed attempts scheduled for a retry, by error kind.",
    ["error_kind"],
    registry=REGISTRY,
)
SYNC_LATENCY = Histogram(
    "stripe2sf_sync_latency_seconds",
    "From the event's arrival in the inbox (webhook or catch-up; wall time) to its Salesforce "
    "writes committed.",
    ["type"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
ACTIONS = Counter(
    "stripe2sf_salesforce_actions",
    "Salesforce actions (an Opportunity at its stage, a Stripe_Request__c) made into Stripe "
    "objects, by kind (invoice, subscription, payment_link) and outcome: done, refused.",
    ["kind", "outcome"],
    registry=REGISTRY,
)


def action_outcome(kind: str, outcome: str) -> None:
    ACTIONS.labels(kind, outcome).inc()


STRIPE_WRITES = Counter(
    "stripe2sf_stripe_writes",
    "Stripe writes by kind (customer_update: a Salesforce change; conflict_reassert: Salesforce's "
    "value put back after a Stripe edit of a field it owns) and outcome (ok, error).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
REVERSE_SKIPPED = Counter(
    "stripe2sf_salesforce_changes_skipped",
    "Salesforce changes (or parts of them) not sent to Stripe, by reason: echo, stripe_owned, "
    "unchanged, not_mapped, not_linked, not_primary, deleted, customer_gone, disabled.",
    ["reason"],
    registry=REGISTRY,
)


def stripe_write(kind: str, outcome: str) -> None:
    STRIPE_WRITES.labels(kind=kind, outcome=outcome).inc()


def reverse_skipped(reason: str) -> None:
    REVERSE_SKIPPED.labels(reason=reason).inc()


def webhook(outcome: str) -> None:
    WEBHOOKS.labels(outcome=outcome).inc()


def event_outcome(event_type: str, outcome: str) -> None:
    EVENTS.labels(type=event_type, outcome=outcome).inc()


def synced(event_type: str, received_at: datetime, committed_at: datetime) -> None:
    seconds = max(0.0, (committed_at - received_at).total_seconds())
    SYNC_LATENCY.labels(type=event_type).observe(seconds)


def retried(error_kind: str) -> None:
    RETRIES.labels(error_kind=error_kind).inc()


class StateCollector(Collector):
    """Gauges read at scrape time from callables (each may raise: the metric is then absent)."""

    def __init__(
        self,
        counts: Callable[[], dict[str, int]],
        lag_seconds: Callable[[], float],
        usage: Callable[[], ApiUsageSnapshot | None],
        stripe_calls: Callable[[], int],
    ) -> None:
        self.counts = counts
        self.lag_seconds = lag_seconds
        self.usage = usage
        self.stripe_calls = stripe_calls

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.counts()
        except Exception:  # database down: /metrics still answers, without these
            counts = None
        if counts is not None:
            depth = GaugeMetricFamily(
                "stripe2sf_inbox_events", "Events in the inbox by state.", labels=["state"]
            )
            for state, n in sorted(counts.items()):
                depth.add_metric([state], n)
            yield depth
            yield GaugeMetricFamily(
                "stripe2sf_inbox_depth", "Events waiting to be applied.", value=counts["pending"]
            )
            yield GaugeMetricFamily(
                "stripe2sf_dead_letters", "Events in the dead letters.", value=counts["dead"]
            )
            with contextlib.suppress(Exception):
                yield GaugeMetricFamily(
                    "stripe2sf_inbox_lag_seconds",
                    "Age of the oldest pending event (0 when none).",
                    value=self.lag_seconds(),
                )
        snapshot = self.usage()
        if snapshot is not None:
            calls = CounterMetricFamily(
                "stripe2sf_salesforce_calls",
                "Salesforce HTTP calls of this process by API and outcome "
                "(ok, retryable, rate_limited, permanent).",
                labels=["api", "outcome"],
            )
            for (api, outcome), n in sorted(dict(snapshot.calls).items()):
                calls.add_metric([api, outcome], n)
            yield calls
            if snapshot.used is not None:
                yield GaugeMetricFamily(
                    "stripe2sf_salesforce_api_usage",
                    "The org's API requests in the last 24 h (latest Sforce-Limit-Info).",
                    value=snapshot.used,
                )
            if snapshot.limit is not None:
                yield GaugeMetricFamily(
                    "stripe2sf_salesforce_api_limit",
                    "The org's daily API request allocation.",
                    value=snapshot.limit,
                )
        yield CounterMetricFamily(
            "stripe2sf_stripe_calls",
            "Stripe API requests made by this process.",
            value=self.stripe_calls(),
        )


def process_registry(extra: Collector) -> CollectorRegistry:
    """The process-wide metrics plus `extra`, as one registry (`worker --metrics-port`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(REGISTRY)
    registry.register(extra)
    return registry


def render(extra: Collector | None = None) -> bytes:
    """The exposition text of the process-wide metrics plus `extra` (scrape-time gauges)."""
    if extra is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(extra)
    return generate_latest(REGISTRY) + generate_latest(registry)
