"""The alerts page: each kind of alert with when it last went out and how many are held back
by the throttle now, then the alerts sent, newest first (store.alert_log keeps the last
HISTORY_KEPT of each kind). A viewer sees kinds and times; operators also the subjects."""

from __future__ import annotations

from stripe2sf.store.alert_log import HISTORY_KEPT, AlertKind, SentAlert
from stripe2sf.web.dashboard import formatting as fmt
from stripe2sf.web.dashboard.auth import Session
from stripe2sf.web.dashboard.html import e, table


def alerts_body(
    kinds: list[AlertKind], sent: list[SentAlert], session: Session, enabled: bool
) -> str:
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
                e(fmt.number(len(k.sent))),
                e(fmt.number(k.suppressed)),
            ]
            for k in kinds
        ],
        "alert-kinds",
    )
    body += (
        f'<h2>Sent <span class="muted">(the last {HISTORY_KEPT} of each kind)</span></h2>'
        + table(
            ["sent at", "kind", "held back before it"] + (["subject"] if operator else []),
            [
                [e(fmt.when(a.at)), e(a.kind), e(fmt.number(a.held_back))]
                + ([e(a.subject)] if operator else [])
                for a in sent
            ],
            "alerts-sent",
        )
    )
    return body
