"""The overview's Salesforce -> Stripe panel: how changes are captured (Change Data Capture or
polling), how many each channel or polled object stored, how old the newest captured change is,
when the position was last saved, how many of stripe2sf's own changes were dropped and how
many recoveries (catch-up rounds, GAP events filled) ran; the same facts as `stripe2sf status`
(`engine.capture_status`), read from the database only. Replay ids are left out (they mean
nothing to a person); every role sees the rest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from stripe2sf.domain.intake_health import ago
from stripe2sf.engine.capture_status import capture_status
from stripe2sf.runtime import Runtime
from stripe2sf.web.dashboard.formatting import number
from stripe2sf.web.dashboard.html import card, e


def _newest_age(report: dict[str, Any]) -> float | None:
    ages = [c["newest_change_age_seconds"] for c in report.get("channels", [])]
    ages += [p["watermark_age_seconds"] for p in report.get("polling", [])]
    known = [a for a in ages if a is not None]
    return min(known) if known else None


def _recoveries(sources: list[dict[str, Any]], now: datetime) -> str:
    """How many recoveries ran, and when the last one did."""
    total = sum(int(s.get("recoveries") or 0) for s in sources)
    last = [
        datetime.fromisoformat(s["last_recovery_at"]) for s in sources if s.get("last_recovery_at")
    ]
    return f"{number(total)} (last {ago(max(last), now)})" if last and total else number(total)


def render(runtime: Runtime, now: datetime) -> str:
    report = capture_status(runtime.settings, runtime.engine)
    mode = report.get("mode", "off")
    heading = "<h2>Salesforce changes to Stripe</h2>"
    if "error" in report:
        error = e(report["error"])
        return heading + f'<p class="bad" data-testid="capture-state">unreadable: {error}</p>'
    sources = [*report.get("channels", []), *report.get("polling", [])]
    if mode == "off" and not sources:
        return heading + (
            '<p class="muted" data-testid="capture-state">off: Salesforce changes are not '
            "captured (STRIPE2SF_CAPTURE=cdc or poll)</p>"
        )
    stored = sum(int(s.get("events") or 0) for s in sources)
    age = _newest_age(report)
    saved = [datetime.fromisoformat(s["updated_at"]) for s in sources if s.get("updated_at")]
    how = "Change Data Capture" if mode == "cdc" else "polling" if mode == "poll" else "off"
    cards = [
        card(f"capture ({', '.join(report.get('objects', []))})", how, "capture-state"),
        card("changes captured", number(stored), "capture-stored"),
        card(
            "newest captured change",
            "none yet" if age is None else ago(now - timedelta(seconds=age), now),
            "capture-newest",
        ),
        card(
            "position saved",
            ago(max(saved), now) if saved else "not yet",
            "capture-saved",
        ),
        card(
            "own changes dropped",
            number(sum(int(s.get("own_changes_dropped") or 0) for s in sources)),
            "capture-own",
        ),
        card("recoveries", _recoveries(sources, now), "capture-recoveries"),
    ]
    return heading + f'<div class="cards">{"".join(cards)}</div>'
