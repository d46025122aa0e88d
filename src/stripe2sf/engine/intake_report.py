"""The intake health report the dashboard's overview and `stripe2sf status` show: accepted and
refused webhooks by reason, the time since the last accepted one, banners, Stripe and
Salesforce reachability, the catch-up state and the refused-signature alert.

    report = intake_report(settings, engine, stripe, salesforce, now)
    report.to_json(operator=True)       # status --json; the dashboard hides details from viewers

A database without the intake tables yet (not upgraded since) still gets a report: the intake
part says why it is unknown, the rest is there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stripe2sf.domain.backfill.catchup import Checkpoint
from stripe2sf.domain.intake_health import (
    REASON_TEXT,
    RECENT_MINUTES,
    SIGNATURE_ALERT,
    Banner,
    Counts,
    IntakeHealth,
    ago,
    banners,
    signature_alert_firing,
)
from stripe2sf.engine.reachability import NOT_CONFIGURED, Reachability, ServiceCheck
from stripe2sf.settings import Settings
from stripe2sf.store.catchup_state import CatchUpState
from stripe2sf.store.db import Engine
from stripe2sf.store.intake_health import AlertSent, IntakeHealthStore, catchup_updated_at

DEFAULT_CATCHUP_SECONDS = 300.0  # engine.catchup_loop.DEFAULT_INTERVAL (a unit test checks)


def catchup_interval() -> float:
    """The catch-up loop's interval in `serve`, read as `engine.catchup_loop` reads it (not
    imported: it loads the runtime, which `stripe2sf status` does without)."""
    raw = os.environ.get("STRIPE2SF_CATCHUP_SECONDS", "")
    try:
        return float(raw) if raw.strip() else DEFAULT_CATCHUP_SECONDS
    except ValueError:
        return DEFAULT_CATCHUP_SECONDS


@dataclass(frozen=True)
class CatchUpView:
    enabled: bool
    interval_seconds: float
    checkpoint: Checkpoint
    updated_at: datetime | None

    def to_json(self, detail: bool) -> dict[str, Any]:
        c = self.checkpoint
        u = c.unfinished
        doc: dict[str, Any] = {
            "enabled": self.enabled,
            "interval_seconds": self.interval_seconds,
            "listed_until": c.listed_until.isoformat() if c.listed_until else None,
            "last_run_at": self.updated_at.isoformat() if self.updated_at else None,
            "round_under_way": u is not None,
            "failures_in_a_row": c.failures,
        }
        if detail:
            doc["last_error"] = c.last_error
            doc["cursor"] = u.cursor if u else None
        return doc


@dataclass(frozen=True)
class SignatureAlert:
    firing: bool
    bad_signatures: int
    threshold: int
    window_seconds: float
    sent: AlertSent | None

    def to_json(self) -> dict[str, Any]:
        last = self.sent.last_sent_at if self.sent else None
        return {
            "firing": self.firing,
            "bad_signatures_in_window": self.bad_signatures,
            "threshold": self.threshold,
            "window_seconds": self.window_seconds,
            "last_sent_at": last.isoformat() if last else None,
        }


@dataclass(frozen=True)
class IntakeReport:
    now: datetime
    intake: IntakeHealth
    banners: list[Banner]
    stripe: ServiceCheck
    salesforce: ServiceCheck
    catchup: CatchUpView
    alert: SignatureAlert
    error: str | None = None  # why the intake counts could not be read

    @property
    def seconds_since_accepted(self) -> float | None:
        last = self.intake.last_accepted_at
        return None if last is None else max(0.0, (self.now - last).total_seconds())

    def to_json(self, operator: bool = True) -> dict[str, Any]:
        h = self.intake
        since = self.seconds_since_accepted
        intake: dict[str, Any] = {"error": self.error} if self.error else {}
        return {
            "intake": intake
            | {
                "window_seconds": 3600,
                "accepted": h.hour.accepted_total,
                "accepted_by_reason": dict(sorted(h.hour.accepted.items())),
                "refused": h.hour.refused_total,
                "refused_by_reason": dict(sorted(h.hour.refused.items())),
                "last_accepted_at": h.last_accepted_at.isoformat() if h.last_accepted_at else None,
                "seconds_since_last_accepted": None if since is None else round(since, 1),
                "last_refused_at": h.last_refused_at.isoformat() if h.last_refused_at else None,
                "last_refused_reason": h.last_refused_reason,
                "refused_recent": h.recent.refused_total,
                "recent_minutes": h.recent_minutes,
            },
            "banners": [{"kind": b.kind, "message": b.message, "fix": b.fix} for b in self.banners],
            "stripe": self.stripe.to_json(operator),
            "salesforce": self.salesforce.to_json(operator),
            "catchup": self.catchup.to_json(operator),
            "signature_alert": self.alert.to_json(),
        }

    def lines(self) -> list[str]:
        """The report in plain text lines (`stripe2sf status`)."""
        h = self.intake
        out = [f"! {b.message} Fix: {b.fix}" for b in self.banners]
        if self.error:
            out.append(f"intake health unknown: {self.error}")
        accepted = ", ".join(f"{n} {r}" for r, n in sorted(h.hour.accepted.items())) or "none"
        refused = (
            ", ".join(f"{n} {REASON_TEXT.get(r, r)}" for r, n in sorted(h.hour.refused.items()))
            or "none"
        )
        out.append(f"webhooks in the last hour: {h.hour.accepted_total} accepted ({accepted})")
        out.append(f"webhooks refused in the last hour: {h.hour.refused_total} ({refused})")
        last = h.last_accepted_at
        out.append(
            "last accepted webhook: "
            + ("never" if last is None else f"{ago(last, self.now)} ({last:%Y-%m-%d %H:%M:%S} UTC)")
        )
        a = self.alert
        out.append(
            f"refused-signature alert: {'FIRING' if a.firing else 'not firing'} "
            f"({a.bad_signatures} in the last {a.window_seconds:g} s, alert at {a.threshold})"
            + (
                f"; last sent {a.sent.last_sent_at:%Y-%m-%d %H:%M:%S} UTC"
                if a.sent and a.sent.last_sent_at
                else ""
            )
        )
        for check in (self.stripe, self.salesforce):
            text = f"{check.service}: {check.summary}"
            if check.state != "ok" and check.detail:
                text += f" ({check.detail})"
            out.append(text)
        out.append(catchup_line(self.catchup, self.now))
        return out


def catchup_line(view: CatchUpView, now: datetime) -> str:
    c = view.checkpoint
    state = f"every {view.interval_seconds:g} s in serve" if view.enabled else "off in serve"
    parts = [f"catch-up: {state}"]
    if view.updated_at is None:
        parts.append("never run")
    else:
        parts.append(f"last run {ago(view.updated_at, now)}")
    if c.listed_until:
        parts.append(f"complete up to {c.listed_until:%Y-%m-%d %H:%M:%S} UTC")
    if c.unfinished is not None:
        parts.append("a round is under way or stopped half-way")
    if c.failures:
        parts.append(f"{c.failures} round(s) failed in a row: {c.last_error}")
    return "; ".join(parts)


def intake_report(
    settings: Settings,
    engine: Engine,
    stripe: ServiceCheck,
    salesforce: ServiceCheck,
    now: datetime | None = None,
) -> IntakeReport:
    """Read the shared counts and the catch-up state; decide the banners."""
    now = now or datetime.now(UTC)
    s = settings
    store = IntakeHealthStore(engine)
    error = None
    try:
        health = store.health(now, s.alert_window_seconds)
        sent = store.alert_sent(SIGNATURE_ALERT)
        checkpoint, updated_at = CatchUpState(engine).load(), catchup_updated_at(engine)
    except Exception as exc:  # a database not upgraded yet, or down: say so, report the rest
        error = f"cannot read the intake counts ({type(exc).__name__}); run `stripe2sf db upgrade`"
        health = IntakeHealth(
            Counts(), Counts(), Counts(), None, None, None, RECENT_MINUTES, s.alert_window_seconds
        )
        sent, checkpoint, updated_at = None, Checkpoint(), None
    interval = catchup_interval()
    catchup = CatchUpView(
        enabled=interval > 0 and bool(s.stripe_key),
        interval_seconds=interval,
        checkpoint=checkpoint,
        updated_at=updated_at,
    )
    alert = SignatureAlert(
        signature_alert_firing(health, s.alert_bad_signatures),
        health.alert_window.bad_signatures,
        s.alert_bad_signatures,
        s.alert_window_seconds,
        sent,
    )
    found = [] if error else banners(health, stripe.newest_event_at, now)
    return IntakeReport(now, health, found, stripe, salesforce, catchup, alert, error)


def status_report(settings: Settings, engine: Engine, wait: float = 20.0) -> IntakeReport:
    """`stripe2sf status`'s report: checks Stripe and Salesforce now (waiting at most `wait`
    seconds for their answers)."""
    checks = Reachability(settings, ttl=0.0)
    try:
        stripe, salesforce = checks.get(wait=wait)
    finally:
        checks.close()
    return intake_report(settings, engine, stripe, salesforce)


def salesforce_api(check: ServiceCheck) -> dict[str, Any] | None:
    """status's `salesforce_api`: None when not configured, the error when it cannot be read."""
    if check.state == NOT_CONFIGURED:
        return None
    if check.api is None:
        return {"error": check.detail or check.summary}
    return dict(check.api)
