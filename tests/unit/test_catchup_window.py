from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stripe2sf.domain.catchup import OVERLAP, window

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def test_first_run_looks_back_three_days_and_points_to_backfill() -> None:
    w = window(None, NOW)
    assert w.since == NOW - timedelta(days=3)
    assert w.warning is not None and "backfill" in w.warning
    assert not w.needs_backfill


def test_recent_gap_lists_from_just_before_the_newest_event() -> None:
    last = NOW - timedelta(hours=2)
    w = window(last, NOW)
    assert w.since == last - OVERLAP and w.warning is None


def test_gap_nearing_retention_warns() -> None:
    w = window(NOW - timedelta(days=26), NOW)
    assert w.warning is not None and "30 days" in w.warning and not w.needs_backfill


def test_gap_past_retention_needs_backfill() -> None:
    w = window(NOW - timedelta(days=31), NOW)
    assert w.needs_backfill and w.since == NOW - timedelta(days=30)
    assert w.warning is not None and "backfill" in w.warning
