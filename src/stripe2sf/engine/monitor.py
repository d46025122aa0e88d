"""Watches the health of stripe2sf and raises (and clears) condition alerts.

Conditions: the error rate of attempts over a threshold, the org's Salesforce API usage over a
threshold, a spike of webhooks with bad signatures (counted in the per-minute intake buckets
every `serve` process shares, `store.intake_health`: the alert fires on the total, as the
overview and `stripe2sf status` judge it), catch-up nearing Stripe's 30-day event
retention, and reconciliation drift (`reconcile_alert`, called by every reconcile run:
`stripe2sf reconcile` passes it to `engine.reconcile.Reconciler` as `on_drift`; serve does not
reconcile by itself). Each alerts at most once per period (the `Alerter`'s throttle) and sends
a recovery message when it clears. `stripe2sf serve` runs `Monitor.run` in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from stripe2sf.domain.backfill.catchup import behind
from stripe2sf.domain.figures import error_rate
from stripe2sf.domain.intake_health import SIGNATURE_ALERT, signature_alert_fires
from stripe2sf.engine.alerts import Alerter
from stripe2sf.salesforce.usage import ApiUsageSnapshot
from stripe2sf.settings import Settings
from stripe2sf.store.catchup_state import CatchUpState
from stripe2sf.store.inbox import Inbox
from stripe2sf.store.intake_health import IntakeHealthStore
from stripe2sf.store.reports import Reports

log = structlog.get_logger(__name__)

STRIPE_RETENTION_DAYS = 30


class Monitor:
    def __init__(
        self,
        settings: Settings,
        alerter: Alerter,
        reports: Reports,
        inbox: Inbox,
        usage: Callable[[], ApiUsageSnapshot | None],
        intake: IntakeHealthStore | None = None,
    ) -> None:
        self.settings = settings
        self.alerter = alerter
        self.reports = reports
        self.inbox = inbox
        self.usage = usage
        # the per-minute intake counts every serve process adds to (not this process's own)
        self.intake = intake or IntakeHealthStore(inbox.engine)
        self.catchup = CatchUpState(inbox.engine)

    def check(self, now: datetime | None = None) -> dict[str, str | None]:
        """Evaluate every condition once; what was sent per condition kind."""
        now = now or datetime.now(UTC)
        s = self.settings
        window = timedelta(seconds=s.alert_window_seconds)
        sent: dict[str, str | None] = {}

        outcomes = self.reports.attempt_outcomes_since(now - window)
        rate = error_rate(outcomes)
        total = sum(outcomes.values())
        firing = rate is not None and total >= s.alert_min_attempts and rate >= s.alert_error_rate
        sent["error_rate"] = self.alerter.condition(
            "error_rate",
            firing,
            f"Error rate {rate or 0:.0%} over the last {window}",
            f"{total} attempts in the window: {outcomes}.\n"
            f"Threshold: {s.alert_error_rate:.0%} (STRIPE2SF_ALERT_ERROR_RATE).",
            now,
            f"error rate back under {s.alert_error_rate:.0%}",
        )

        snapshot = self.usage()
        fraction = snapshot.fraction_used if snapshot is not None else None
        sent["api_usage"] = self.alerter.condition(
            "api_usage",
            fraction is not None and fraction >= s.alert_api_usage,
            f"Salesforce API usage at {fraction or 0:.0%} of the daily limit",
            f"Used {getattr(snapshot, 'used', None)} of {getattr(snapshot, 'limit', None)}; "
            f"threshold {s.alert_api_usage:.0%} (STRIPE2SF_ALERT_API_USAGE). Low-priority work "
            "is slowed down by the API budget.",
            now,
            f"Salesforce API usage back under {s.alert_api_usage:.0%}",
        )

        refused = self.intake.window(now, window.total_seconds())
        bad = refused.bad_signatures
        sent[SIGNATURE_ALERT] = self.alerter.condition(
            SIGNATURE_ALERT,
            signature_alert_fires(refused, s.alert_bad_signatures),
            f"{bad} webhooks with bad signatures in {window}",
            "Check STRIPE_WEBHOOK_SECRET (rotated in Stripe but not here?) or whether someone "
            "is posting forged events to the endpoint.",
            now,
            "webhook signatures back to normal",
        )

        # from the end of the last completed catch-up round (the newest event before any)
        gap = behind(self.catchup.load(), self.inbox.newest_created(), now)
        gap_days = gap.total_seconds() / 86400 if gap is not None else 0.0
        sent["catchup_window"] = self.alerter.condition(
            "catchup_window",
            gap_days >= s.alert_catchup_days,
            f"Catch-up must reach back {gap_days:.1f} days (Stripe keeps {STRIPE_RETENTION_DAYS})",
            "Catch-up has not completed a round for a long time (or no event has arrived). "
            "Run `stripe2sf catch-up` and fix what it reports before Stripe's 30-day event "
            "retention passes; after that only a backfill can repair the gap.",
            now,
            "events arriving again; catch-up well within Stripe's retention",
        )
        return sent

    def reconciled(
        self, run_id: str, drift: int, checked: int, now: datetime | None = None
    ) -> None:
        """Hook for a reconcile run in this process: drift alerts; a clean run recovers."""
        reconcile_alert(self.alerter, run_id, drift, checked, now=now)

    def run(self, stop: threading.Event, interval: float = 30.0) -> None:
        """Check every `interval` seconds (the first after one interval) until `stop`."""
        while not stop.wait(interval):
            try:
                self.check()
            except Exception as exc:  # a database outage must not kill the monitor
                log.error("monitor_error", error=str(exc))


def reconcile_alert(
    alerter: Alerter,
    run_id: str | int,
    drift: int,
    checked: int,
    previous_drift: int | None = None,
    now: datetime | None = None,
) -> str | None:
    """The reconciliation drift condition: drift found alerts (once per period); a clean run
    after a run with drift sends the recovery. `previous_drift`: the drift of the run before,
    from the database, for a process that runs one reconcile (None: as this process saw it).
    Returns "alert" or "recovered" when a message went out."""
    return alerter.condition(
        "reconcile_drift",
        drift > 0,
        f"Reconciliation found {drift} difference(s) between Stripe and Salesforce",
        f"Run {run_id}: {checked} records compared, {drift} differ. "
        "See `stripe2sf reconcile` (or its --format html report) and the dashboard's "
        "reconciliation page; `stripe2sf reconcile --fix` repairs what the planner can.",
        now,
        "reconciliation found no drift",
        was_firing=None if previous_drift is None else previous_drift > 0,
    )
