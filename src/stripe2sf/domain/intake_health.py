"""The webhook intake's health, decided without I/O: why a delivery was refused, per-minute
bucket arithmetic, and when the overview and `stripe2sf status` raise a banner.

A delivery is *accepted* when it was answered 2xx (stored, a repeat, a type kept but not
synced, a live-mode event stored as refused) and *refused* otherwise (400/413/503). Counts
live in per-minute buckets shared by every process (`store.intake_health`); a window of N
seconds is read as every bucket from the minute N seconds ago on, so it covers at least N
seconds and at most a minute more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

ACCEPTED = "accepted"
REFUSED = "refused"

# Why a delivery was refused (the reason column; stable names, shown in status --json).
SIGNATURE_MISMATCH = "signature_mismatch"
SIGNATURE_STALE = "signature_stale"
SIGNATURE_FUTURE = "signature_future"
SIGNATURE_MISSING = "signature_missing"
SIGNATURE_MALFORMED = "signature_malformed"
NO_SECRET = "no_secret"
TOO_LARGE = "too_large"
NOT_AN_EVENT = "not_an_event"
STORE_FAILED = "store_failed"

SIGNATURE_REASONS = frozenset(
    {
        SIGNATURE_MISMATCH,
        SIGNATURE_STALE,
        SIGNATURE_FUTURE,
        SIGNATURE_MISSING,
        SIGNATURE_MALFORMED,
        NO_SECRET,
    }
)

# Plain words for each reason (safe for every dashboard role: no payloads, ids or secrets).
REASON_TEXT: dict[str, str] = {
    SIGNATURE_MISMATCH: "signature matches no configured webhook secret",
    SIGNATURE_STALE: "signature timestamp too old",
    SIGNATURE_FUTURE: "signature timestamp in the future",
    SIGNATURE_MISSING: "no Stripe-Signature header",
    SIGNATURE_MALFORMED: "malformed Stripe-Signature header",
    NO_SECRET: "no webhook secret configured",
    TOO_LARGE: "body too large",
    NOT_AN_EVENT: "body is not a Stripe event",
    STORE_FAILED: "database could not store the event",
    "stored": "stored",
    "ignored": "type kept, not synced",
    "duplicate": "repeat of a stored event",
    "refused": "live-mode event stored as refused",
}

# What to do about deliveries refused for a reason.
REASON_FIX: dict[str, str] = {
    SIGNATURE_MISMATCH: "STRIPE_WEBHOOK_SECRET must be the signing secret (whsec_...) of this "
    "endpoint in Stripe's dashboard; after a rotation list both, comma-separated. If the "
    "secret is right, someone else is posting to the endpoint.",
    SIGNATURE_STALE: "check this machine's clock (NTP); Stripe's signatures are only valid "
    "for STRIPE2SF_WEBHOOK_TOLERANCE_SECONDS.",
    SIGNATURE_FUTURE: "check this machine's clock (NTP).",
    SIGNATURE_MISSING: "something other than Stripe is posting to the endpoint, or a proxy "
    "drops the Stripe-Signature header.",
    SIGNATURE_MALFORMED: "something other than Stripe is posting to the endpoint, or a proxy "
    "rewrites the Stripe-Signature header.",
    NO_SECRET: "set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret.",
    TOO_LARGE: "something other than Stripe is posting to the endpoint.",
    NOT_AN_EVENT: "something other than Stripe is posting to the endpoint.",
    STORE_FAILED: "the database is down or full; Stripe retries these deliveries for 3 days.",
}


def signature_reason(message: str) -> str:
    """The reason code of a `stripe.signature.SignatureRefused` message."""
    text = message.lower()
    if "missing stripe-signature" in text:
        return SIGNATURE_MISSING
    if "no webhook secret" in text:
        return NO_SECRET
    if "in the future" in text:
        return SIGNATURE_FUTURE
    if "s old" in text:
        return SIGNATURE_STALE
    if "no signature matches" in text:
        return SIGNATURE_MISMATCH
    return SIGNATURE_MALFORMED


# -- buckets --------------------------------------------------------------------------------


def minute_of(timestamp: float) -> int:
    """The bucket (Unix minute) a Unix time falls in."""
    return int(timestamp // 60)


def first_minute(now: datetime, seconds: float) -> int:
    """The oldest bucket of a window of `seconds` ending at `now` (inclusive)."""
    return minute_of(now.timestamp() - seconds)


@dataclass(frozen=True)
class Counts:
    """Deliveries in one window, by reason."""

    accepted: Mapping[str, int] = field(default_factory=dict)
    refused: Mapping[str, int] = field(default_factory=dict)

    @property
    def accepted_total(self) -> int:
        return sum(self.accepted.values())

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def bad_signatures(self) -> int:
        return sum(n for reason, n in self.refused.items() if reason in SIGNATURE_REASONS)


def sum_buckets(rows: list[tuple[int, str, str, int]], since_minute: int) -> Counts:
    """(minute, outcome, reason, count) rows -> the counts of the buckets from `since_minute`."""
    accepted: dict[str, int] = {}
    refused: dict[str, int] = {}
    for minute, outcome, reason, count in rows:
        if minute < since_minute:
            continue
        target = accepted if outcome == ACCEPTED else refused
        target[reason] = target.get(reason, 0) + int(count)
    return Counts(accepted, refused)


@dataclass(frozen=True)
class IntakeHealth:
    """What every process can read about the intake."""

    hour: Counts
    recent: Counts  # the banner's window
    alert_window: Counts  # the refused-signature alert's window
    last_accepted_at: datetime | None
    last_refused_at: datetime | None
    last_refused_reason: str | None
    recent_minutes: int
    alert_window_seconds: float


# -- banners --------------------------------------------------------------------------------

RECENT_MINUTES = 15  # refused deliveries raise the banner for this long
DELIVERY_GRACE = timedelta(minutes=2)  # Stripe delivers within seconds; clocks may differ


@dataclass(frozen=True)
class Banner:
    kind: str  # "refused" or "silent"
    message: str  # plain words, for every role
    fix: str


def _reasons_text(refused: Mapping[str, int]) -> str:
    parts = sorted(refused.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{n} {REASON_TEXT.get(reason, reason)}" for reason, n in parts)


def banners(
    health: IntakeHealth,
    stripe_newest: datetime | None,
    now: datetime,
    grace: timedelta = DELIVERY_GRACE,
) -> list[Banner]:
    """The overview's and status's warnings about the intake.

    - "refused": deliveries were refused in the last `recent_minutes` (a wrong
      STRIPE_WEBHOOK_SECRET refuses every one); the fix of the commonest reason.
    - "silent": Stripe has an event (of a type stripe2sf handles) created at `stripe_newest`,
      over `grace` ago, and no webhook was accepted since: deliveries do not arrive at all
      (endpoint disabled, wrong URL, network) or are all refused.
    """
    found: list[Banner] = []
    recent = health.recent
    if recent.refused_total:
        top = max(recent.refused.items(), key=lambda item: (item[1], item[0]))[0]
        accepted = (
            "none accepted" if not recent.accepted_total else f"{recent.accepted_total} accepted"
        )
        found.append(
            Banner(
                "refused",
                f"{recent.refused_total} webhook deliveries refused in the last "
                f"{health.recent_minutes} minutes ({_reasons_text(recent.refused)}); "
                f"{accepted}.",
                REASON_FIX.get(top, "see the refused-webhook lines in the log."),
            )
        )
    if stripe_newest is not None and now - stripe_newest >= grace:
        last = health.last_accepted_at
        if last is None or last + grace < stripe_newest:
            since = "no webhook was ever accepted" if last is None else "none arrived since"
            found.append(
                Banner(
                    "silent",
                    f"Stripe has events from {ago(stripe_newest, now)} that no webhook "
                    f"delivered ({since}).",
                    "check the endpoint in Stripe's dashboard (enabled, its URL, its events) "
                    "and that Stripe can reach this service; catch-up stores the missed "
                    "events meanwhile.",
                )
            )
    return found


def ago(then: datetime, now: datetime) -> str:
    """'45 s ago', '12 min ago', '3.5 h ago', '2.0 days ago'."""
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


SIGNATURE_ALERT = "bad_signatures"  # the refused-signature alert's kind (`engine.monitor`)


def signature_alert_fires(window: Counts, threshold: int) -> bool:
    """The refused-signature condition: deliveries refused for their signature in the alert's
    window (the shared counts of every process) reach the threshold. The monitor raises the
    alert by it, and the overview and `stripe2sf status` say "firing" by it."""
    return window.bad_signatures >= threshold


def signature_alert_firing(health: IntakeHealth, threshold: int) -> bool:
    """`signature_alert_fires` over a health report's alert window."""
    return signature_alert_fires(health.alert_window, threshold)
