"""Catch-up decisions: which stretch of Stripe's event history a round lists, where a round
that stopped half-way resumes, and what to warn and alert about.

Stripe keeps events for 30 days and lists them newest first. A round lists every event created
in [since, until] (`until` is the moment the round began) and is recorded as complete only when
its last page is stored; the next round starts a little before that `until` (the overlap covers
events that became visible late and a clock skew of a few minutes). The window never rests on
the newest event we happen to have: a delivery dropped long before a later one arrived would
then never be listed again.

A round that fails half-way (Stripe down, rate limited past our retries, the process stopped)
has stored every event newer than its cursor, the last event it stored, in list order. The next
round resumes after that cursor; should Stripe no longer know the cursor event, it resumes from
the cursor's second (re-listing a few events is harmless: the inbox ignores repeats). Nothing
is skipped either way and nothing is listed from scratch.

Past the retention window only a backfill can restore the history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

RETENTION = timedelta(days=30)
WARN_AFTER = timedelta(days=25)
OVERLAP = timedelta(minutes=10)
FIRST_RUN = timedelta(days=3)
# A cursor older than this is not trusted to still exist in Stripe: resume by its timestamp.
CURSOR_TRUSTED = RETENTION - timedelta(days=1)
# Rounds failed in a row before the administrator is alerted (one failure is normal weather).
FAILURES_BEFORE_ALERT = 3
PAGE_SIZE = 100


@dataclass(frozen=True)
class Unfinished:
    """A round that has begun and not completed, as stored."""

    since: datetime
    until: datetime
    cursor: str | None = None  # the last event stored, in list order (newest first)
    cursor_created: datetime | None = None


@dataclass(frozen=True)
class Checkpoint:
    """What the store remembers between rounds."""

    # every event created up to this moment has been listed by a round that completed
    listed_until: datetime | None = None
    unfinished: Unfinished | None = None
    failures: int = 0  # rounds failed in a row
    last_error: str | None = None


@dataclass(frozen=True)
class Round:
    """One round's request: list events created in [since, until], after `starting_after`."""

    since: datetime
    until: datetime
    starting_after: str | None = None
    cursor_created: datetime | None = None
    # resuming by timestamp: list from this second down (`until` stays the round's end)
    resume_at: datetime | None = None
    resumed: bool = False
    warning: str | None = None
    needs_backfill: bool = False

    @property
    def empty(self) -> bool:
        """Nothing left to list (the rest of the round fell out of Stripe's retention)."""
        return (self.resume_at or self.until) < self.since

    def params(self) -> dict[str, Any]:
        """The query of the round's next page (Stripe's list parameters)."""
        upper = self.resume_at or self.until
        created = {"gte": int(self.since.timestamp()), "lte": int(upper.timestamp())}
        params: dict[str, Any] = {"limit": PAGE_SIZE, "created": created}
        if self.starting_after:
            params["starting_after"] = self.starting_after
        return params

    def after(self, event_id: str, created: datetime) -> Round:
        """The round continued after a stored page whose last event is `event_id`."""
        return replace(self, starting_after=event_id, cursor_created=created)

    def by_timestamp(self) -> Round | None:
        """The same round resumed from the cursor's second instead of the cursor itself
        (Stripe no longer knows the cursor event); None when there is no cursor."""
        if self.starting_after is None or self.cursor_created is None:
            return None
        return replace(self, resume_at=self.cursor_created, starting_after=None)


def plan_round(checkpoint: Checkpoint, oldest_stored: datetime | None, now: datetime) -> Round:
    """The next round: resume an unfinished one, or list from the last completed round's end
    (minus the overlap) up to now.

    Before any round has completed, the history starts at the oldest event we have (webhooks
    have been arriving since then; older history is the backfill's job), or, with no event at
    all, `FIRST_RUN` ago.
    """
    floor = now - RETENTION
    warning: str | None = None
    gap_known = True
    if checkpoint.unfinished is not None:
        u = checkpoint.unfinished
        plan = Round(u.since, u.until, u.cursor, u.cursor_created, resumed=True)
        if u.cursor_created is not None and now - u.cursor_created >= CURSOR_TRUSTED:
            plan = plan.by_timestamp() or plan
    elif checkpoint.listed_until is not None:
        plan = Round(checkpoint.listed_until - OVERLAP, now)
    elif oldest_stored is not None:
        plan = Round(oldest_stored - OVERLAP, now)
        gap_known = False
    else:
        plan = Round(now - FIRST_RUN, now)
        gap_known = False
        warning = (
            f"no events seen yet: catching up the last {FIRST_RUN.days} days only; "
            "run `stripe2sf backfill` for older history"
        )
    reach = now - plan.since
    if plan.since < floor:
        plan = replace(plan, since=floor)
        if gap_known:
            return replace(
                plan,
                needs_backfill=True,
                warning=(
                    f"catch-up last completed {reach.days} days ago, beyond Stripe's 30-day "
                    "event retention: events were lost; run `stripe2sf backfill` to restore "
                    "the history"
                ),
            )
    elif gap_known and reach >= WARN_AFTER:
        warning = (
            f"catch-up must reach back {reach.days} days: Stripe drops events after 30 days; "
            "catch up now"
        )
    return replace(plan, warning=warning)


def behind(
    checkpoint: Checkpoint | None, newest_stored: datetime | None, now: datetime
) -> timedelta | None:
    """How far back the next catch-up must reach: from the end of the last completed round,
    or (before any) from the newest event we have; None when nothing is known yet."""
    if checkpoint is not None and checkpoint.listed_until is not None:
        return now - checkpoint.listed_until
    if newest_stored is not None:
        return now - newest_stored
    return None


def keeps_failing(checkpoint: Checkpoint) -> bool:
    """Rounds have failed often enough in a row to tell the administrator."""
    return checkpoint.failures >= FAILURES_BEFORE_ALERT
