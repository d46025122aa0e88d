"""Can stripe2sf reach Stripe and Salesforce, and are its credentials accepted?

    checks = Reachability(settings)
    stripe, salesforce = checks.get(wait=3.0)    # cached; refreshed in the background

Stripe: one authenticated call, `GET /v1/events?limit=1` for the event types stripe2sf
handles, which also says when Stripe's newest such event was created (a webhook should have
brought it). Salesforce: a login (kept for later checks) and `/limits` (the org's API usage
today). Each result is kept `ttl` seconds, so a dashboard open in several tabs does not hammer
either service; a check runs in a background thread and `get` waits at most `wait` seconds for
it, so a slow service never holds up a page (it shows the last result, or "checking").
Failures are said in plain words (`summary`, fine for every dashboard role); `detail` holds the
error text for operators.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.domain.setup.doctor import daily_api

if TYPE_CHECKING:
    from stripe2sf.salesforce.client import SalesforceClient
    from stripe2sf.settings import Settings

# The Stripe and Salesforce clients are imported by the checks that use them, so `stripe2sf
# status` loads neither when the service is not configured (tests/acceptance/test_cli_startup).

OK = "ok"
FAILING = "failing"
NOT_CONFIGURED = "not_configured"
CHECKING = "checking"

STRIPE_TYPES_PER_CALL = 20  # Stripe's limit on types[] of GET /v1/events


@dataclass(frozen=True)
class ServiceCheck:
    service: str  # "Stripe" or "Salesforce"
    state: str  # ok, failing, not_configured, checking
    summary: str  # plain words, for every role
    detail: str = ""  # the error text or who is logged in where: operators only
    checked_at: datetime | None = None
    newest_event_at: datetime | None = None  # Stripe: the newest handled event
    api: dict[str, int] | None = field(default=None)  # Salesforce: used, limit, remaining

    def to_json(self, detail: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "state": self.state,
            "summary": self.summary,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }
        if detail:
            doc["detail"] = self.detail
        if self.service == "Stripe":
            at = self.newest_event_at
            doc["newest_event_at"] = at.isoformat() if at else None
        else:
            doc["api"] = self.api
        return doc


def stripe_summary(kind: str | None) -> str:
    """Plain words for a failed Stripe call, from its error kind (`stripe.reader`)."""
    return {
        "stripe.authentication": "Stripe refused the API key",
        "stripe.permission": "the Stripe API key lacks a permission",
        "stripe.connection": "cannot reach Stripe",
        "stripe.rate_limited": "Stripe is rate limiting this key",
        "stripe.server": "Stripe answered with a server error",
    }.get(kind or "", "Stripe answered with an error")


def salesforce_summary(kind: str | None) -> str:
    """Plain words for a failed Salesforce login or call, from its error kind."""
    kind = kind or ""
    if kind.startswith("salesforce.login."):
        return f"Salesforce login failed: {kind.removeprefix('salesforce.login.')}"
    if kind == "salesforce.config":
        return "the Salesforce settings are incomplete"
    if kind in ("salesforce.connection", "salesforce.timeout"):
        return "cannot reach Salesforce"
    return "Salesforce answered with an error"


def check_stripe(settings: Settings, now: datetime | None = None) -> ServiceCheck:
    now = now or datetime.now(UTC)
    key = settings.stripe_key
    if not key:
        return ServiceCheck("Stripe", NOT_CONFIGURED, "not configured (STRIPE_API_KEY)", "", now)
    from stripe2sf.stripe.reader import StripeReader

    reader = StripeReader(
        key, settings.stripe_api_base, max_retries=0, api_version=settings.stripe_api_version
    )
    types = sorted(HANDLED_TYPES)[:STRIPE_TYPES_PER_CALL]
    try:
        page, _ = reader.list_page("events", {"limit": 1, "types": types})
    except SyncError as exc:
        return ServiceCheck("Stripe", FAILING, stripe_summary(exc.kind), str(exc), now)
    except Exception as exc:  # anything else the SDK raises: still a plain answer
        return ServiceCheck("Stripe", FAILING, "cannot reach Stripe", str(exc), now)
    newest = None
    if page and isinstance(page[0].get("created"), int):
        newest = datetime.fromtimestamp(page[0]["created"], UTC)
    where = settings.stripe_api_base or "api.stripe.com"
    return ServiceCheck("Stripe", OK, "reachable, API key accepted", where, now, newest)


class SalesforceProbe:
    """Keeps one login across checks; a failed check drops it, so the next one logs in."""

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._client: SalesforceClient | None = None

    def check(self, now: datetime | None = None) -> ServiceCheck:
        now = now or datetime.now(UTC)
        s = self.settings
        if not (s.salesforce_username or s.salesforce_client_id):
            return ServiceCheck(
                "Salesforce", NOT_CONFIGURED, "not configured (SALESFORCE_*)", "", now
            )
        try:
            if self._client is None:
                from stripe2sf.salesforce.client import connect

                self._client = connect(s, timeout=(self.timeout, self.timeout))
            client = self._client
            limit, remaining = daily_api(client.limits())
        except SyncError as exc:
            self.close()
            return ServiceCheck("Salesforce", FAILING, salesforce_summary(exc.kind), str(exc), now)
        except Exception as exc:
            self.close()
            return ServiceCheck("Salesforce", FAILING, "cannot reach Salesforce", str(exc), now)
        api = {"used": limit - remaining, "limit": limit, "remaining": remaining}
        who = s.salesforce_username or "the connected app"
        return ServiceCheck(
            "Salesforce",
            OK,
            "reachable, logged in",
            f"{client.login_mode} login to {client.instance_url} as {who}",
            now,
            api=api,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class Reachability:
    """Both checks, cached `ttl` seconds, refreshed in one background thread at a time."""

    def __init__(self, settings: Settings, ttl: float = 45.0) -> None:
        self.settings = settings
        self.ttl = ttl
        self.salesforce = SalesforceProbe(settings)
        self._lock = threading.Lock()
        self._result: tuple[ServiceCheck, ServiceCheck] | None = None
        self._at = 0.0
        self._running: threading.Event | None = None

    def get(self, wait: float = 3.0) -> tuple[ServiceCheck, ServiceCheck]:
        """The latest result; starts a check when it is older than `ttl` and waits for it up
        to `wait` seconds ("checking" until a first result)."""
        with self._lock:
            fresh = self._result is not None and time.monotonic() - self._at < self.ttl
            done = self._running
            if not fresh and done is None:
                done = self._running = threading.Event()
                threading.Thread(
                    target=self._refresh, args=(done,), name="reachability", daemon=True
                ).start()
        if not fresh and done is not None:
            done.wait(wait)
        with self._lock:
            if self._result is not None:
                return self._result
        now = datetime.now(UTC)
        return (
            ServiceCheck("Stripe", CHECKING, "checking...", "", now),
            ServiceCheck("Salesforce", CHECKING, "checking...", "", now),
        )

    def _refresh(self, done: threading.Event) -> None:
        try:
            result = (check_stripe(self.settings), self.salesforce.check())
            with self._lock:
                self._result, self._at = result, time.monotonic()
        finally:
            with self._lock:
                self._running = None
            done.set()

    def close(self) -> None:
        self.salesforce.close()
