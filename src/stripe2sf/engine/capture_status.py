"""Capture's lines in `stripe2sf status`: the mode, each CDC channel's replay position and how
old its newest change is, each polled object's watermark. Reads the database only (no
Salesforce call, no gRPC import)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stripe2sf.domain.capture.estimate import capture_check
from stripe2sf.domain.setup.doctor import Check, daily_api
from stripe2sf.settings import Settings, capture_objects
from stripe2sf.store.capture import (
    OWN_DROPPED,
    RECOVERED,
    CaptureStore,
    Count,
    CounterKey,
)
from stripe2sf.store.db import Engine
from stripe2sf.store.inbox import Inbox


def _age(ms: int | None, now: datetime) -> float | None:
    return None if ms is None else round(max(0.0, now.timestamp() - ms / 1000), 1)


def capture_status(settings: Settings, engine: Engine) -> dict[str, Any]:
    now = datetime.now(UTC)
    store = CaptureStore(engine, Inbox(engine))
    try:
        channels = store.channels()
        marks = store.watermarks()
        counters = store.counters()
    except Exception as exc:  # a database before migration 0011: say so, status still reports
        return {"mode": settings.capture, "error": str(exc).splitlines()[0]}
    return {
        "mode": settings.capture,
        # with capture off, not worth reading the configuration for (`status` starts fast)
        "objects": capture_objects(settings) if settings.capture != "off" else [],
        "channels": [
            {
                "channel": c.channel,
                "replay_id": c.replay_id,
                "events": c.events,
                "newest_change_age_seconds": _age(c.last_commit_ms, now),
                "updated_at": c.updated_at.isoformat(),
                **_counted(counters, c.channel),
            }
            for c in channels
        ],
        "polling": [
            {
                "object": w.entity,
                "watermark_age_seconds": _age(w.watermark_ms, now),
                "events": w.events,
                "updated_at": w.updated_at.isoformat(),
                **_counted(counters, f"poll:{w.entity}"),
            }
            for w in marks
        ],
    }


def _counted(counters: Mapping[CounterKey, Count], key: str) -> dict[str, Any]:
    """A channel's (or polled object's) counters: own changes dropped, recoveries run."""
    own = counters.get((key, OWN_DROPPED))
    recovered = counters.get((key, RECOVERED))
    return {
        "own_changes_dropped": own.total if own else 0,
        "recoveries": recovered.total if recovered else 0,
        "last_recovery_at": recovered.last_at.isoformat() if recovered else None,
    }


def _counts_text(item: Mapping[str, Any]) -> str:
    parts = []
    if item.get("own_changes_dropped"):
        parts.append(f"{item['own_changes_dropped']} own changes dropped")
    if item.get("recoveries"):
        parts.append(f"{item['recoveries']} recoveries (last {item['last_recovery_at']})")
    return "".join(f", {p}" for p in parts)


def capture_lines(report: dict[str, Any]) -> list[str]:
    mode = report.get("mode", "off")
    if "error" in report:
        return [f"Salesforce capture ({mode}): state unreadable: {report['error']}"]
    lines = []
    if mode == "off" and not report.get("channels") and not report.get("polling"):
        return ["Salesforce capture: off (STRIPE2SF_CAPTURE=cdc or poll to capture changes)"]
    objects = report.get("objects") or []
    lines.append(f"Salesforce capture: {mode}" + (f" ({', '.join(objects)})" if objects else ""))
    for c in report.get("channels", []):
        age = c["newest_change_age_seconds"]
        newest = f"newest change {age:.0f} s old" if age is not None else "no change yet"
        replay = c["replay_id"]
        if not replay:  # its time is the start or the newest change: where a catch-up begins
            newest = f"complete up to {age:.0f} s ago" if age is not None else "no change yet"
            replay = "none yet (a catch-up round runs at the next start)"
        lines.append(
            f"  {c['channel']}: {c['events']} stored, {newest}, replay id {replay}, "
            f"position saved {c['updated_at']}{_counts_text(c)}"
        )
    for p in report.get("polling", []):
        age = p["watermark_age_seconds"]
        mark = f"newest change seen {age:.0f} s ago" if age is not None else "no change yet"
        lines.append(
            f"  poll {p['object']}: {p['events']} stored, {mark}, last round {p['updated_at']}"
            f"{_counts_text(p)}"
        )
    return lines


def capture_estimate(settings: Settings, limits: Mapping[str, Any]) -> Check:
    """Doctor's line: what capture costs a day in API calls, from the org's /limits."""
    maximum, _ = daily_api(limits)
    return capture_check(
        settings.capture,
        capture_objects(settings),
        poll_seconds=settings.capture_poll_seconds,
        api_share=settings.poll_api_share,
        daily_limit=maximum or None,
    )
