"""The API budget's decisions (pure)."""

from __future__ import annotations

import pytest

from stripe2sf.domain.batch.budget import (
    BudgetPolicy,
    Defer,
    Priority,
    Proceed,
    Usage,
    allowed_level,
    decide,
    priority_of,
    projection,
)

POLICY = BudgetPolicy(reserve_share=0.2, slow_from=0.8, defer_seconds=60, pause_seconds=300)


@pytest.mark.parametrize(
    ("event_type", "source", "expected"),
    [
        ("invoice.payment_failed", "webhook", Priority.FAILED_PAYMENT),
        ("charge.failed", "catchup", Priority.FAILED_PAYMENT),
        ("customer.subscription.updated", "webhook", Priority.SUBSCRIPTION),
        ("charge.succeeded", "webhook", Priority.PAYMENT),
        ("invoice.paid", "webhook", Priority.PAYMENT),
        ("charge.succeeded", "backfill", Priority.BACKFILL),
        ("invoice.payment_failed", "reconcile", Priority.BACKFILL),
    ],
)
def test_priority_of(event_type: str, source: str, expected: Priority) -> None:
    assert priority_of(event_type, source) == expected


@pytest.mark.parametrize(
    ("used", "level"),
    [
        (0, 3),
        (639, 3),  # ceiling is 800 (20% of 1000 kept for others); slow from 640
        (640, 2),  # backfill waits
        (720, 1),  # payments wait too (midpoint of 0.8 and 1)
        (800, 0),  # our share is used up: failed payments only
        (999, 0),
        (1000, -1),  # the org's hard limit
    ],
)
def test_levels_by_usage(used: int, level: int) -> None:
    assert allowed_level(Usage(used, 1000, 1.0), POLICY) == level


def test_unknown_usage_lets_everything_run() -> None:
    assert allowed_level(Usage(None, None), POLICY) == Priority.BACKFILL


def test_failed_payments_go_through_while_lower_priorities_wait() -> None:
    usage = Usage(850, 1000, 1.0)
    assert isinstance(decide(Priority.FAILED_PAYMENT, usage, POLICY), Proceed)
    for low in (Priority.SUBSCRIPTION, Priority.PAYMENT, Priority.BACKFILL):
        verdict = decide(low, usage, POLICY)
        assert isinstance(verdict, Defer)
        assert verdict.seconds == 60
        assert "850/1000" in verdict.reason


def test_pause_after_limit_exceeded_holds_everything() -> None:
    verdict = decide(Priority.FAILED_PAYMENT, Usage(10, 1000, 1.0, paused_for=120), POLICY)
    assert isinstance(verdict, Defer) and verdict.seconds == 120


def test_hard_limit_waits_then_probes_with_a_stale_reading() -> None:
    fresh = decide(Priority.FAILED_PAYMENT, Usage(1000, 1000, 10.0), POLICY)
    assert isinstance(fresh, Defer) and fresh.seconds == 300
    stale = decide(Priority.FAILED_PAYMENT, Usage(1000, 1000, 301.0), POLICY)
    assert isinstance(stale, Proceed)


def test_projection_scales_usage_to_a_day() -> None:
    assert projection(100, 43200) == 200
    assert projection(100, 0) == 100
