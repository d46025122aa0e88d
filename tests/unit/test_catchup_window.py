"""Catch-up rounds as pure decisions: where a round starts, how one resumes, what it warns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stripe2sf.domain.backfill.catchup import (
    FAILURES_BEFORE_ALERT,
    OVERLAP,
    RETENTION,
    Checkpoint,
    Round,
    Unfinished,
    behind,
    keeps_failing,
    plan_round,
)

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def ts(value: datetime) -> int:
    return int(value.timestamp())


def test_first_run_without_events_looks_back_three_days_and_points_to_backfill() -> None:
    r = plan_round(Checkpoint(), None, NOW)
    assert r.since == NOW - timedelta(days=3) and r.until == NOW
    assert r.warning is not None and "backfill" in r.warning
    assert not r.needs_backfill and not r.resumed


def test_first_run_with_events_lists_from_the_oldest_one_we_have() -> None:
    oldest = NOW - timedelta(days=12)
    r = plan_round(Checkpoint(), oldest, NOW)
    assert r.since == oldest - OVERLAP and r.warning is None and not r.needs_backfill


def test_first_run_with_history_older_than_retention_lists_what_stripe_keeps() -> None:
    r = plan_round(Checkpoint(), NOW - timedelta(days=90), NOW)
    assert r.since == NOW - RETENTION and not r.needs_backfill


def test_a_round_starts_where_the_last_completed_round_ended_not_at_the_newest_event() -> None:
    """The regression: a delivery dropped 30 minutes before the newest stored event must
    still be listed; the window rests on the last completed round."""
    listed_until = NOW - timedelta(hours=2)
    r = plan_round(Checkpoint(listed_until=listed_until), NOW - timedelta(days=5), NOW)
    assert r.since == listed_until - OVERLAP and r.until == NOW
    assert r.starting_after is None and not r.resumed and r.warning is None
    assert r.params()["created"] == {"gte": ts(listed_until - OVERLAP), "lte": ts(NOW)}


def test_an_unfinished_round_resumes_after_its_cursor_with_its_own_window() -> None:
    since, until = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
    cursor_created = NOW - timedelta(hours=2)
    unfinished = Unfinished(since, until, "evt_cursor", cursor_created)
    r = plan_round(Checkpoint(listed_until=since + OVERLAP, unfinished=unfinished), None, NOW)
    assert r.resumed and (r.since, r.until) == (since, until)
    assert r.params() == {
        "limit": 100,
        "created": {"gte": ts(since), "lte": ts(until)},
        "starting_after": "evt_cursor",
    }


def test_an_unfinished_round_without_a_cursor_starts_over_within_its_window() -> None:
    unfinished = Unfinished(NOW - timedelta(hours=3), NOW - timedelta(hours=1))
    r = plan_round(Checkpoint(unfinished=unfinished), None, NOW)
    assert r.resumed and r.starting_after is None and r.until == NOW - timedelta(hours=1)


def test_resuming_by_timestamp_lists_from_the_cursors_second_and_keeps_the_rounds_end() -> None:
    cursor_created = NOW - timedelta(hours=2)
    r = Round(NOW - timedelta(hours=3), NOW, "evt_gone", cursor_created)
    fallback = r.by_timestamp()
    assert fallback is not None and fallback.starting_after is None
    assert fallback.until == NOW, "completing it still records the whole round as listed"
    assert fallback.params()["created"]["lte"] == ts(cursor_created)
    assert Round(NOW - timedelta(hours=1), NOW).by_timestamp() is None


def test_a_cursor_nearly_out_of_retention_is_not_trusted() -> None:
    old = NOW - timedelta(days=29, hours=12)
    unfinished = Unfinished(
        NOW - timedelta(days=29, hours=20), old + timedelta(hours=1), "evt_x", old
    )
    r = plan_round(Checkpoint(listed_until=NOW - timedelta(days=29)), None, NOW)
    assert not r.needs_backfill
    r = plan_round(Checkpoint(unfinished=unfinished), None, NOW)
    assert r.starting_after is None and r.resume_at == old


def test_the_part_of_a_round_past_retention_is_empty() -> None:
    gone = NOW - timedelta(days=31)
    unfinished = Unfinished(NOW - timedelta(days=32), NOW - timedelta(days=30, hours=12), "e", gone)
    r = plan_round(Checkpoint(unfinished=unfinished), None, NOW)
    assert r.empty and r.needs_backfill


def test_gap_nearing_retention_warns() -> None:
    r = plan_round(Checkpoint(listed_until=NOW - timedelta(days=26)), None, NOW)
    assert r.warning is not None and "30 days" in r.warning and not r.needs_backfill


def test_gap_past_retention_needs_backfill() -> None:
    r = plan_round(Checkpoint(listed_until=NOW - timedelta(days=31)), None, NOW)
    assert r.needs_backfill and r.since == NOW - timedelta(days=30)
    assert r.warning is not None and "backfill" in r.warning


def test_after_a_page_the_round_goes_on_after_its_last_event() -> None:
    r = Round(NOW - timedelta(hours=1), NOW).after("evt_9", NOW - timedelta(minutes=5))
    assert r.params()["starting_after"] == "evt_9"
    assert r.cursor_created == NOW - timedelta(minutes=5)


def test_how_far_back_catch_up_must_reach() -> None:
    listed = NOW - timedelta(days=26)
    fresh = NOW - timedelta(minutes=1)
    assert behind(Checkpoint(listed_until=listed), fresh, NOW) == timedelta(days=26), (
        "a fresh webhook does not hide that catch-up has not completed for 26 days"
    )
    assert behind(Checkpoint(), fresh, NOW) == timedelta(minutes=1)
    assert behind(None, None, NOW) is None


def test_alert_only_when_rounds_keep_failing() -> None:
    assert not keeps_failing(Checkpoint(failures=FAILURES_BEFORE_ALERT - 1))
    assert keeps_failing(Checkpoint(failures=FAILURES_BEFORE_ALERT))
