"""The overview's intake health panel: banners when webhooks are refused or do not arrive,
accepted and refused deliveries of the last hour, the time since the last accepted one, the
refused-signature alert, Stripe and Salesforce reachability and the catch-up state.

Every role sees the health (counts, states, plain-word reasons); only operators see error texts
and where stripe2sf logs in (`engine.reachability.ServiceCheck.detail`, catch-up's last error).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from typing import Any

from stripe2sf.domain.intake_health import REASON_TEXT, ago
from stripe2sf.engine.intake_report import CatchUpView, IntakeReport, catchup_line, intake_report
from stripe2sf.engine.reachability import OK, Reachability, ServiceCheck
from stripe2sf.runtime import Runtime
from stripe2sf.web.dashboard.html import card, e, table

_lock = threading.Lock()

REACHABILITY_WAIT = 3.0  # seconds a page waits for a check under way


def _reachability(state: Any, runtime: Runtime) -> Reachability:
    """One cached checker per app (kept on `app.state`)."""
    with _lock:
        checks = getattr(state, "reachability", None)
        if checks is None:
            checks = Reachability(runtime.settings)
            state.reachability = checks
        return checks


def report_for(state: Any, runtime: Runtime, now: datetime) -> IntakeReport:
    tally = getattr(state, "intake_tally", None)
    if tally is not None:
        tally.flush()  # this process's latest counts, not only those of the last flush
    stripe, salesforce = _reachability(state, runtime).get(wait=REACHABILITY_WAIT)
    return intake_report(runtime.settings, runtime.engine, stripe, salesforce, now)


def _service(check: ServiceCheck, test_id: str, operator: bool) -> str:
    css = "ok" if check.state == OK else "bad" if check.state == "failing" else "muted"
    value = f'<div class="v {css}" data-testid="{e(test_id)}">{e(check.summary)}</div>'
    detail = ""
    if operator and check.detail:
        detail = f'<div class="l" data-testid="{e(test_id)}-detail">{e(check.detail)}</div>'
    return f'<div class="card">{value}<div class="l">{e(check.service)}</div>{detail}</div>'


def render(state: Any, runtime: Runtime, operator: bool, now: datetime) -> str:
    """The panel's HTML (banners first, so a broken intake is the first thing seen)."""
    report = report_for(state, runtime, now)
    h = report.intake
    parts = [
        f'<div class="flash bad" role="alert" data-testid="intake-banner" '
        f'data-kind="{e(b.kind)}"><strong>{e(b.message)}</strong> Fix: {e(b.fix)}</div>'
        for b in report.banners
    ]
    last = h.last_accepted_at
    alert = report.alert
    alert_text = "firing" if alert.firing else "not firing"
    if alert.sent and alert.sent.last_sent_at:
        alert_text += f", last sent {ago(alert.sent.last_sent_at, now)}"
    cards = [
        card("webhooks accepted (1 h)", h.hour.accepted_total, "intake-accepted"),
        card(
            "webhooks refused (1 h)",
            h.hour.refused_total,
            "intake-refused",
            "bad" if h.hour.refused_total else "",
        ),
        card(
            "last accepted webhook",
            "never" if last is None else ago(last, now),
            "intake-last-accepted",
        ),
        card(
            f"refused-signature alert ({alert.bad_signatures} in {alert.window_seconds:g} s, "
            f"alert at {alert.threshold})",
            alert_text,
            "signature-alert",
            "bad" if alert.firing else "",
        ),
        _service(report.stripe, "stripe-state", operator),
        _service(report.salesforce, "salesforce-state", operator),
    ]
    parts.append(f'<h2>Intake</h2><div class="cards">{"".join(cards)}</div>')
    if h.hour.refused:
        parts.append(
            "<h2>Refused webhooks (last hour)</h2>"
            + table(
                ["reason", "deliveries"],
                [
                    [e(REASON_TEXT.get(reason, reason)), e(n)]
                    for reason, n in sorted(h.hour.refused.items(), key=lambda i: -i[1])
                ],
                "intake-refused-reasons",
            )
        )
    catchup = report.catchup
    if not operator and catchup.checkpoint.last_error:  # error texts are for operators
        catchup = _without_error(catchup)
    text = catchup_line(catchup, now)
    parts.append(f'<p data-testid="catchup-state">{e(text)}</p>')
    return "".join(parts)


def _without_error(view: CatchUpView) -> CatchUpView:
    return replace(view, checkpoint=replace(view.checkpoint, last_error="see the log"))
