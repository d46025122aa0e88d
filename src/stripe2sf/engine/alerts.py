"""Administrator alerts by e-mail and Slack-compatible webhook, throttled per kind of failure."""

from __future__ import annotations

import smtplib
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import structlog

from stripe2sf.settings import Settings
from stripe2sf.store.alert_log import AlertLog

log = structlog.get_logger(__name__)


class Alerter:
    def __init__(self, settings: Settings, alert_log: AlertLog) -> None:
        self.settings = settings
        self.log = alert_log
        self._firing: set[str] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        s = self.settings
        return bool((s.smtp_host and s.alert_email_to) or s.alert_slack_webhook_url)

    def notify(
        self,
        kind: str,
        subject: str,
        body: str,
        now: datetime | None = None,
        recovered: bool = False,
    ) -> bool:
        """Send unless an alert of this kind went out within the period; True when sent (the
        alert log's history then holds it; `recovered`: a condition's recovery message)."""
        if not self.enabled:
            return False
        now = now or datetime.now(UTC)
        period = timedelta(seconds=self.settings.alert_period_seconds)
        suppressed = self.log.try_acquire(kind, now, period, subject, body, recovered)
        if suppressed is None:
            return False
        if suppressed:
            body += f"\n\n({suppressed} more alert(s) of this kind were held back since the last.)"
        self._email(subject, body)
        self._slack(subject, body)
        return True

    def condition(
        self,
        kind: str,
        firing: bool,
        subject: str,
        body: str,
        now: datetime | None = None,
        recovered: str | None = None,
        was_firing: bool | None = None,
    ) -> str | None:
        """A condition that holds or not (error rate, API usage, ...): while it holds, alert
        once per period; when it clears, send one recovery message. Returns "alert" or
        "recovered" when a message went out.

        `was_firing`: whether the condition held at its previous evaluation, for a process
        that evaluates it once (a CLI run keeps nothing in memory); None: as this process saw
        it."""
        with self._lock:
            if was_firing is None:
                was_firing = kind in self._firing
            if firing:
                self._firing.add(kind)
            else:
                self._firing.discard(kind)
        if firing:
            return "alert" if self.notify(kind, subject, body, now) else None
        if was_firing:
            title = f"Recovered: {recovered or kind}"
            sent = self.notify(f"{kind}:recovered", title, body, now, recovered=True)
            return "recovered" if sent else None
        return None

    def _email(self, subject: str, body: str) -> None:
        s = self.settings
        if not (s.smtp_host and s.alert_email_to):
            return
        msg = EmailMessage()
        msg["Subject"] = f"[stripe2sf] {subject}"
        msg["From"] = s.alert_email_from
        msg["To"] = ", ".join(s.alert_email_to)
        msg.set_content(body)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username and s.smtp_password:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("alert_email_failed", error=str(exc), host=s.smtp_host)

    def _slack(self, subject: str, body: str) -> None:
        url = self.settings.alert_slack_webhook_url
        if not url:
            return
        try:
            httpx.post(url, json={"text": f"*{subject}*\n{body}"}, timeout=10).raise_for_status()
        except httpx.HTTPError as exc:
            log.error("alert_slack_failed", error=str(exc))
