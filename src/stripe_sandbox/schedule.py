"""Billing arithmetic: period boundaries and the dunning retry schedule. Pure functions."""

from __future__ import annotations

import calendar
import datetime as dt

DAY = 86400


def add_interval(anchor: int, interval: str, count: int = 1, periods: int = 1) -> int:
    """``anchor`` moved forward by ``periods`` x (``count`` ``interval``); months keep the
    anchor's day of month, clamped to the month's last day (Jan 31 -> Feb 28 -> Mar 31)."""
    if interval == "day":
        return anchor + DAY * count * periods
    if interval == "week":
        return anchor + 7 * DAY * count * periods
    months = count * periods * (12 if interval == "year" else 1)
    if interval not in ("month", "year"):
        raise ValueError(f"unknown interval: {interval}")
    start = dt.datetime.fromtimestamp(anchor, dt.UTC)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def period_end(anchor: int, start: int, interval: str, count: int = 1) -> int:
    """End of the billing period that starts at ``start`` for a cycle anchored at ``anchor``."""
    n = 1
    while True:
        end = add_interval(anchor, interval, count, n)
        if end > start:
            return end
        n += 1


def next_retry(failed_at: int, attempt_count: int, retry_days: list[float]) -> int | None:
    """When to retry after the ``attempt_count``-th failed attempt, or None when the retries
    are exhausted. ``retry_days[i]`` is the gap after attempt ``i + 1``."""
    if attempt_count < 1 or attempt_count > len(retry_days):
        return None
    return failed_at + int(retry_days[attempt_count - 1] * DAY)


def trial_will_end_at(trial_end: int, created: int, days_before: int) -> int:
    """Stripe notifies ``days_before`` days ahead, or at once for a shorter trial."""
    return max(created, trial_end - days_before * DAY)
