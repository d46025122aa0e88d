"""The alerts page: each kind of alert with when it last went out and how many are held back
by the throttle now, then the alerts sent, newest first, a page at a time (store.alert_log
keeps the newest HISTORY_PER_KIND of each kind, for HISTORY_DAYS days). A viewer sees kinds
and times; operators also the subjects and the messages sent."""

from __future__ import annotations

from stripe2sf.store.alert_log import HISTORY_DAYS, HISTORY_PER_KIND, AlertKind, SentAlert
from stripe2sf.web.dashboard import formatting as fmt
from stripe2sf.web.dashboard.auth import Session
from stripe2sf.web.dashboard.html import e, table


def _subject(alert: SentAlert) -> str:
    if not alert.message:
        return e(alert.subject)
    return (
        f"<details><summary>{e(alert.subject)}</summary>"
        f'<pre class="message">{e(alert.message)}</pre></details>'
    )


def alerts_body(
    kinds: list[AlertKind], sent: list[SentAlert], session: Session, enabled: bool, pager: str
) -> str:
    """`sent`: the page of alerts shown; `pager`: its `1-50 of 312 alerts` line with links."""
    operator = session.user.is_operator
    body = ""
    if not enabled:
        body += (
            '<p class="bad" data-testid="alerts-off">No alert channel is configured '
            "(STRIPE2SF_SMTP_HOST with STRIPE2SF_ALERT_EMAIL_TO, or "
            "STRIPE2SF_ALERT_SLACK_WEBHOOK_URL): nothing is sent.</p>"
        )
    if not kinds:
        return body + '<p data-testid="no-alerts">No alert raised yet.</p>'
    body += "<h2>By kind</h2>" + table(
        ["kind", "last sent", "sent (kept)", "held back since"],
        [
            [
                e(k.kind),
                e(fmt.when(k.last_sent_at)),
                e(fmt.number(k.kept)),
                e(fmt.number(k.suppressed)),
            ]
            for k in kinds
        ],
        "alert-kinds",
    )
    kept = f"the last {HISTORY_PER_KIND} of each kind, {HISTORY_DAYS} days at most"
    body += f'<h2>Sent <span class="muted">({e(kept)})</span></h2>' + pager
    body += table(
        ["sent at", "kind", "held back before it"] + (["subject"] if operator else []),
        [
            [e(fmt.when(a.at)), e(a.kind), e(fmt.number(a.held_back))]
            + ([_subject(a)] if operator else [])
            for a in sent
        ],
        "alerts-sent",
    )
    return body
