"""Catch-up decisions: from which moment to list Stripe events, and what to warn about.

Stripe keeps events for 30 days. Listing from a little before the newest event we have
(the overlap covers events created out of order around it) finds every missed delivery; past the
retention window only a backfill can restore the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

RETENTION = timedelta(days=30)
WARN_AFTER = timedelta(days=25)
OVERLAP = timedelta(minutes=10)
FIRST_RUN = timedelta(days=3)


@dataclass(frozen=True)
class CatchUpWindow:
    since: datetime
    warning: str | None = None
    needs_backfill: bool = False


def window(last_seen: datetime | None, now: datetime) -> CatchUpWindow:
    if last_seen is None:
        return CatchUpWindow(
            since=now - FIRST_RUN,
            warning=(
                f"no events seen yet: catching up the last {FIRST_RUN.days} days only; "
                "run `stripe2sf backfill` for older history"
            ),
        )
    gap = now - last_seen
    if gap >= RETENTION:
        return CatchUpWindow(
            since=now - RETENTION,
            warning=(
                f"the newest event we have is {gap.days} days old, beyond Stripe's 30-day event "
                "retention: events were lost; run `stripe2sf backfill` to restore the history"
            ),
            needs_backfill=True,
        )
    warning = None
    if gap >= WARN_AFTER:
        warning = (
            f"the newest event we have is {gap.days} days old: Stripe drops events after 30 days; "
            "catch up now"
        )
    return CatchUpWindow(since=last_seen - OVERLAP, warning=warning)
