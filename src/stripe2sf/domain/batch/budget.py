"""The Salesforce API budget: which work may call Salesforce now (pure).

Salesforce's daily allocation is shared by every integration of the org. stripe2sf keeps
`reserve_share` of it for the others: its own ceiling is `limit * (1 - reserve_share)`. As the
org's usage (read from the `Sforce-Limit-Info` header of every answer) climbs towards that
ceiling, work is slowed by priority, lowest first:

    priority 0  failed payments         (invoice.payment_failed, charge.failed, ...)
    priority 1  subscriptions           (customer.subscription.*)
    priority 2  payments and the rest   (charges, invoices paid, customers, ...)
    priority 3  backfill and reconcile  (bulk history, drift repair)

With `f = used / ceiling`: below `slow_from` everything runs; from `slow_from` backfill and
reconcile wait; from the midpoint of `slow_from` and 1 payments wait too; from 1 (the share
is used up) only failed payments run; once the org is at its hard limit (used >= limit, or
Salesforce answered REQUEST_LIMIT_EXCEEDED) nothing runs until the pause ends, and then one
call at a time probes whether the rolling 24-hour window has room again.

Work that waits is deferred (retried later without counting an attempt): nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    FAILED_PAYMENT = 0
    SUBSCRIPTION = 1
    PAYMENT = 2
    BACKFILL = 3


FAILED_PAYMENT_TYPES = frozenset(
    {
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "charge.failed",
        "payment_intent.payment_failed",
        "invoice.marked_uncollectible",
    }
)
BULK_SOURCES = frozenset({"backfill", "reconcile"})


def priority_of(event_type: str, source: str = "webhook") -> Priority:
    """The priority class of an event (by type) or of bulk work (by source)."""
    if source in BULK_SOURCES:
        return Priority.BACKFILL
    if event_type in FAILED_PAYMENT_TYPES:
        return Priority.FAILED_PAYMENT
    if event_type.startswith("customer.subscription."):
        return Priority.SUBSCRIPTION
    return Priority.PAYMENT


@dataclass(frozen=True)
class BudgetPolicy:
    reserve_share: float = 0.2  # of the daily limit, kept for the org's other integrations
    slow_from: float = 0.8  # fraction of our ceiling where backfill and reconcile start waiting
    defer_seconds: float = 60.0  # how long deferred work waits before it asks again
    pause_seconds: float = 300.0  # after REQUEST_LIMIT_EXCEEDED or at the hard limit


@dataclass(frozen=True)
class Usage:
    used: int | None
    limit: int | None
    age_seconds: float | None = None  # how old the reading is
    paused_for: float | None = None  # seconds left of a REQUEST_LIMIT_EXCEEDED pause


@dataclass(frozen=True)
class Proceed:
    level: int  # the highest priority allowed now (3 = everything)


@dataclass(frozen=True)
class Defer:
    seconds: float
    reason: str


Verdict = Proceed | Defer


def ceiling(limit: int, policy: BudgetPolicy) -> float:
    return limit * (1.0 - policy.reserve_share)


def allowed_level(usage: Usage, policy: BudgetPolicy) -> int:
    """The lowest-priority class (highest number) that may call Salesforce now; -1: none."""
    if usage.paused_for is not None and usage.paused_for > 0:
        return -1
    if usage.used is None or not usage.limit:
        return int(Priority.BACKFILL)
    if usage.used >= usage.limit:
        # At the hard limit: wait; a stale reading lets one probe through (see `decide`).
        return -1
    fraction = usage.used / max(1.0, ceiling(usage.limit, policy))
    if fraction >= 1.0:
        return int(Priority.FAILED_PAYMENT)
    if fraction >= (policy.slow_from + 1.0) / 2:
        return int(Priority.SUBSCRIPTION)
    if fraction >= policy.slow_from:
        return int(Priority.PAYMENT)
    return int(Priority.BACKFILL)


def decide(priority: Priority, usage: Usage, policy: BudgetPolicy) -> Verdict:
    """May work of `priority` call Salesforce now, or how long should it wait?"""
    level = allowed_level(usage, policy)
    if int(priority) <= level:
        return Proceed(level)
    if usage.paused_for is not None and usage.paused_for > 0:
        return Defer(usage.paused_for, "Salesforce API limit reached (REQUEST_LIMIT_EXCEEDED)")
    if level < 0:
        # Hard limit seen in the last answer: once the reading is older than the pause, let
        # the work through as a probe (the rolling window may have room again).
        if usage.age_seconds is not None and usage.age_seconds >= policy.pause_seconds:
            return Proceed(level)
        return Defer(policy.pause_seconds, "Salesforce daily API limit reached")
    share = f"{(1 - policy.reserve_share):.0%}"
    return Defer(
        policy.defer_seconds,
        f"API budget: {usage.used}/{usage.limit} used; {share} of the limit is stripe2sf's, "
        f"{priority.name.lower()} work waits",
    )


def projection(used: int, elapsed_seconds: float, day_seconds: float = 86400.0) -> int:
    """Usage projected to the end of the day at the rate seen so far (pure arithmetic)."""
    if elapsed_seconds <= 0:
        return used
    return round(used * day_seconds / elapsed_seconds)
