"""API usage from Sforce-Limit-Info, the usage snapshot, and the HTTP session's CA bundle
(no server needed)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from stripe2sf.salesforce.transport import SalesforceSession
from stripe2sf.salesforce.usage import UsageTracker, parse_limit_info


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("api-usage=18/15000", (18, 15000)),
        ("api-usage=18/15000; per-app-api-usage=17/250(appName=sample)", (18, 15000)),
        ("api-usage=5/100; api-bursts=1/750", (5, 100)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_parse_limit_info(header: str | None, parsed: tuple[int, int] | None) -> None:
    assert parse_limit_info(header) == parsed


def test_tracker_keeps_latest_usage_and_counts_calls() -> None:
    tracker = UsageTracker()
    empty = tracker.snapshot()
    assert empty.used is None and empty.fraction_used is None and empty.total_calls == 0
    tracker.record("composite", "ok", "api-usage=10/100")
    tracker.record("composite", "ok", "api-usage=11/100")
    tracker.record("bulk", "retryable", None)  # no header: usage unchanged
    tracker.record("rest", "permanent", "api-usage=12/100")
    snap = tracker.snapshot()
    assert (snap.used, snap.limit, snap.fraction_used) == (12, 100, 0.12)
    assert snap.calls == {
        ("composite", "ok"): 2,
        ("bulk", "retryable"): 1,
        ("rest", "permanent"): 1,
    }
    assert snap.calls_by_kind() == {"composite": 2, "bulk": 1, "rest": 1}
    assert snap.total_calls == 4
    data = snap.to_dict()
    assert (
        data["used"] == 12 and {"kind": "composite", "outcome": "ok", "count": 2} in data["calls"]
    )
    tracker.record("rest", "ok", None)
    assert snap.calls[("rest", "permanent")] == 1 and ("rest", "ok") not in snap.calls  # a copy


def test_tracker_is_thread_safe() -> None:
    tracker = UsageTracker()

    def work() -> None:
        for _ in range(1000):
            tracker.record("rest", "ok", "api-usage=1/2")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tracker.snapshot().calls[("rest", "ok")] == 8000


def test_ca_bundle_wins_over_requests_ca_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    mine = tmp_path / "mine.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    pinned = SalesforceSession(mine)
    got = pinned.merge_environment_settings("https://x.example.com", {}, None, None, None)
    assert got["verify"] == str(mine)
    # an explicit per-request verify still wins
    got = pinned.merge_environment_settings("https://x.example.com", {}, None, False, None)
    assert got["verify"] is False
    # without a bundle, the environment applies as in plain requests
    plain = SalesforceSession(None)
    got = plain.merge_environment_settings("https://x.example.com", {}, None, None, None)
    assert got["verify"] == str(other)
