"""Backfill decisions, pure: which Stripe lists in which order, how each Stripe object becomes
an event-like view for the planner, how fast to read Stripe, how many Salesforce API calls a
run will spend and whether that fits today's limit, and how a run ends.

History ends the way live events end: every object is turned into the event the live flow
would have received for its current state (`synthetic_event`) and planned by
`planner.plan`; only the way lookups are answered and calls are grouped differs.

    objects = parse_objects("customers,charges")          # parents first, whatever the order
    est = estimate(counts, bulk_threshold=2000, job_size=25_000)
    decision = check_budget(est.total_calls, remaining=..., max_share=0.5)
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from stripe2sf.domain.paths import as_int, as_str
from stripe2sf.domain.stripe_views import InvoiceView, expanded_default_card, invoice_view

# Parents before children: Accounts/Contacts first, then what hangs off them.
PHASES: tuple[str, ...] = ("customers", "subscriptions", "charges", "invoices")
RESOURCE_OF_PHASE: Mapping[str, str] = {
    "customers": "customers",
    "subscriptions": "subscriptions",
    "charges": "charges",
    "invoices": "invoices",
}
# Extra list parameters per resource: the subscriptions list hides canceled ones by default;
# customers come with their default payment method (or legacy default source) expanded, so
# the card on file is planned from the snapshot without a read per customer.
LIST_PARAMS: Mapping[str, Mapping[str, Any]] = {
    "subscriptions": {"status": "all"},
    "customers": {
        "expand": ["data.invoice_settings.default_payment_method", "data.default_source"]
    },
}
BASIL = "2025-03-31"  # from this API version charges no longer name their invoice


def list_params(resource: str, api_version: str) -> dict[str, Any]:
    """`LIST_PARAMS` for the API version read: from 2025-03-31.basil invoices come with their
    payments expanded, so that a charge's invoice is found in the staged invoices (older
    versions name it on the charge, and know no `payments` to expand)."""
    params = dict(LIST_PARAMS.get(resource, {}))
    if resource == "invoices" and api_version[:10] >= BASIL:
        params["expand"] = ["data.payments"]
    return params


# Salesforce records one Stripe object usually writes (estimate only).
RECORDS_PER_OBJECT: Mapping[str, float] = {
    "customers": 2.0,  # Account + Contact
    "subscriptions": 1.0,  # Account status fields (merged per Account)
    "charges": 1.0,  # the payment record
    "invoices": 1.0,  # a Task/Case, or the Account's billing status
}
DEFAULT_JOB_SIZE = 25_000  # records per Bulk API 2.0 job (one commit + checkpoint each)
CALLS_PER_BULK_JOB = 5  # create, upload, close, successfulResults, failedResults
POLLS_PER_BULK_JOB = 6  # job status polls, backing off to a few seconds (estimate)
COLLECTION_SIZE = 200
COMPOSITE_SIZE = 25
LIVE_RATE = 20.0  # Stripe requests per second with a live key (Stripe allows 100)
TEST_RATE = 10.0  # with a test key (Stripe allows 25)
MAX_STRIPE_RETRIES = 5


class BackfillOptionError(ValueError):
    pass


def parse_objects(text: str | None) -> tuple[str, ...]:
    """`customers,charges` -> the phases in dependency order; unknown names refused."""
    if not text:
        return PHASES
    wanted = [p.strip().lower() for p in text.split(",") if p.strip()]
    unknown = sorted(set(wanted) - set(PHASES))
    if unknown:
        raise BackfillOptionError(
            f"--objects: unknown {', '.join(unknown)}; expected some of {', '.join(PHASES)}"
        )
    return tuple(p for p in PHASES if p in wanted)


def default_rate(api_key: str | None) -> float:
    """Requests per second to Stripe: 20 with a live key, 10 with a test key."""
    key = api_key or ""
    return LIVE_RATE if key.startswith(("sk_live_", "rk_live_")) else TEST_RATE


@dataclass
class Pacer:
    """At most `rate` requests per second, evenly spaced. Pure: the caller passes the time
    and sleeps for what `wait(now)` answers, then calls `taken(now)`."""

    rate: float
    next_at: float = 0.0

    def wait(self, now: float) -> float:
        return max(0.0, self.next_at - now)

    def taken(self, now: float) -> None:
        self.next_at = max(now, self.next_at) + (1.0 / self.rate if self.rate > 0 else 0.0)

    def hold(self, now: float, seconds: float) -> None:
        """Nothing before now + seconds (a 429's Retry-After applies to every reader)."""
        self.next_at = max(self.next_at, now + seconds)


def stripe_retry_delay(attempt: int, retry_after: float | None) -> float | None:
    """Seconds before retrying a Stripe request that failed for a retryable reason (attempt
    1 = first retry): Retry-After when Stripe sent one, else 1, 2, 4, 8, 16 s (capped at 32);
    None after MAX_STRIPE_RETRIES: give up (the run stops, resumable)."""
    if attempt > MAX_STRIPE_RETRIES:
        return None
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, 300.0)
    return float(min(32, 2 ** (attempt - 1)))


# ---- Stripe object -> event-like envelope -----------------------------------------------------


def unpaid_failed(inv: InvoiceView) -> bool:
    """An open or uncollectible invoice whose payment was attempted and failed, and which is
    still owed."""
    return inv.status in ("open", "uncollectible") and inv.failed_and_owed


def event_type_for(phase: str, obj: Mapping[str, Any]) -> tuple[str | None, str]:
    """The event type the live flow would have received for this object's current state,
    or (None, why nothing is synced)."""
    if phase == "customers":
        if obj.get("deleted"):
            return None, "deleted customer"
        return "customer.updated", "customer snapshot"
    if phase == "subscriptions":
        return "customer.subscription.updated", "subscription snapshot"
    if phase == "charges":
        status = as_str(obj.get("status"))
        if status == "succeeded":
            refunded = bool(obj.get("refunded")) or (as_int(obj.get("amount_refunded")) or 0) > 0
            return ("charge.refunded" if refunded else "charge.succeeded"), "charge snapshot"
        if status == "failed":
            return "charge.failed", "failed charge snapshot"
        return None, f"charge is {status}"
    if phase == "invoices":
        inv = invoice_view(obj)
        if inv.paid:
            return "invoice.paid", "paid invoice"
        if unpaid_failed(inv):
            return "invoice.payment_failed", "unpaid invoice whose payment failed"
        return None, f"invoice is {as_str(obj.get('status'))} with no failed payment"
    raise BackfillOptionError(f"unknown phase {phase}")


def synthetic_event(phase: str, obj: Mapping[str, Any], as_of: int) -> dict[str, Any] | None:
    """An event envelope for `obj` as of `as_of` (the run's snapshot time), or None.

    The envelope's `created` is the snapshot time: the sync ledger then skips the snapshot
    when a live event newer than the run was already applied, and live events older than the
    snapshot are skipped as late (their effect is in the snapshot)."""
    etype, _ = event_type_for(phase, obj)
    if etype is None:
        return None
    previous = None
    if phase == "customers" and expanded_default_card(obj) is not None:
        # the snapshot states the card on file as a change of default would (plan_customer)
        previous = {"invoice_settings": {"default_payment_method": None}}
    return envelope("backfill", etype, obj, as_of, previous)


def envelope(
    source: str,
    etype: str,
    obj: Mapping[str, Any],
    as_of: int,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Stripe event envelope made by stripe2sf itself (`<source>:<object id>`) for `obj` as
    of `as_of`, so that the planner treats a snapshot like a delivered event."""
    data: dict[str, Any] = {"object": dict(obj)}
    if previous is not None:
        data["previous_attributes"] = dict(previous)
    return {
        "id": f"{source}:{obj.get('id')}",
        "object": "event",
        "type": etype,
        "created": as_of,
        "livemode": bool(obj.get("livemode", False)),
        "data": data,
    }


_VOLATILE = frozenset({"next_payment_attempt", "updated", "latest_invoice"})


def object_digest(obj: Mapping[str, Any]) -> str:
    """A stable fingerprint of a Stripe object: unchanged object -> nothing to write again."""
    payload = {k: v for k, v in obj.items() if k not in _VOLATILE}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ---- strategy, estimate, budget -----------------------------------------------------------------

Strategy = Literal["bulk", "collections"]


def write_strategy(records: int, bulk_threshold: int) -> Strategy:
    """Bulk API 2.0 at or above the threshold (Salesforce's advice: > 2,000 records), else
    sObject Collections inside Composite requests."""
    return "bulk" if records >= bulk_threshold else "collections"


@dataclass(frozen=True)
class PhaseEstimate:
    phase: str
    objects: int
    records: int
    strategy: Strategy
    jobs: int
    calls: int


@dataclass(frozen=True)
class Estimate:
    phases: tuple[PhaseEstimate, ...]
    read_calls: int = 0  # Salesforce queries that index what already exists

    @property
    def total_records(self) -> int:
        return sum(p.records for p in self.phases)

    @property
    def write_calls(self) -> int:
        return sum(p.calls for p in self.phases)

    @property
    def total_calls(self) -> int:
        return self.write_calls + self.read_calls


def collection_calls(records: int, layers: int = 1) -> int:
    """Composite calls for `records` written through sObject Collections (200 a request,
    25 requests a Composite call), per layer."""
    if records <= 0:
        return 0
    requests = math.ceil(records / COLLECTION_SIZE) + max(0, layers - 1)
    return math.ceil(requests / COMPOSITE_SIZE)


def estimate_phase(
    phase: str, objects: int, *, bulk_threshold: int, job_size: int
) -> PhaseEstimate:
    records = math.ceil(objects * RECORDS_PER_OBJECT.get(phase, 1.0))
    strategy = write_strategy(records, bulk_threshold)
    layers = 2 if phase == "customers" else 1
    if records == 0:
        return PhaseEstimate(phase, objects, 0, strategy, 0, 0)
    if strategy == "bulk":
        per_layer = math.ceil(records / layers)
        jobs = layers * math.ceil(per_layer / max(1, job_size))
        return PhaseEstimate(
            phase,
            objects,
            records,
            strategy,
            jobs,
            jobs * (CALLS_PER_BULK_JOB + POLLS_PER_BULK_JOB),
        )
    return PhaseEstimate(phase, objects, records, strategy, 0, collection_calls(records, layers))


def estimate(
    counts: Mapping[str, int],
    *,
    bulk_threshold: int,
    job_size: int = DEFAULT_JOB_SIZE,
    read_calls: int = 0,
) -> Estimate:
    """Planned records and Salesforce API calls per phase, from the Stripe object counts."""
    phases = tuple(
        estimate_phase(p, counts[p], bulk_threshold=bulk_threshold, job_size=job_size)
        for p in PHASES
        if p in counts
    )
    return Estimate(phases, read_calls)


@dataclass(frozen=True)
class BudgetDecision:
    ok: bool
    planned_calls: int
    remaining: int | None
    allowed: int | None
    message: str


def check_budget(planned_calls: int, remaining: int | None, max_share: float) -> BudgetDecision:
    """Refuse to spend more than `max_share` of what remains of today's API limit."""
    if remaining is None:
        return BudgetDecision(
            True, planned_calls, None, None, "the org's remaining API calls are unknown"
        )
    allowed = math.floor(max(0, remaining) * max_share)
    if planned_calls > allowed:
        return BudgetDecision(
            False,
            planned_calls,
            remaining,
            allowed,
            f"refused: the backfill needs about {planned_calls} Salesforce API calls, more than "
            f"{max_share:.0%} of the {remaining} left today ({allowed}); raise --max-share, "
            "narrow --objects/--since, or wait for the 24-hour window to free calls",
        )
    return BudgetDecision(
        True,
        planned_calls,
        remaining,
        allowed,
        f"about {planned_calls} Salesforce API calls of the {allowed} allowed "
        f"({max_share:.0%} of {remaining} left today)",
    )


# ---- the run's outcome --------------------------------------------------------------------------

RunStatus = Literal["running", "succeeded", "completed_with_failures", "stopped", "refused"]


@dataclass
class Tally:
    """Salesforce records created/updated/failed and Stripe objects skipped, per phase."""

    created: int = 0
    updated: int = 0
    failed: int = 0
    skipped: int = 0
    objects: int = 0

    def add(self, other: Tally) -> None:
        self.created += other.created
        self.updated += other.updated
        self.failed += other.failed
        self.skipped += other.skipped
        self.objects += other.objects

    def to_dict(self) -> dict[str, int]:
        return {
            "objects": self.objects,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        return cls(
            **{
                k: int(data.get(k, 0))
                for k in ("created", "updated", "failed", "skipped", "objects")
            }
        )


@dataclass(frozen=True)
class Verdict:
    status: RunStatus
    exit_code: int
    message: str


def verdict(
    stopped: str | None,
    tallies: Mapping[str, Tally],
    phases_done: Sequence[str],
    phases: Sequence[str],
) -> Verdict:
    """How a run ends. A run that stopped early, or left a phase unfinished, never reports
    success; records that Salesforce refused make it complete-with-failures (exit 1)."""
    if stopped is not None:
        return Verdict("stopped", 3, f"stopped before the end: {stopped}; run it again to resume")
    missing = [p for p in phases if p not in phases_done]
    if missing:
        return Verdict("stopped", 3, f"phases not finished: {', '.join(missing)}")
    failed = sum(t.failed for t in tallies.values())
    if failed:
        return Verdict(
            "completed_with_failures",
            1,
            f"finished, but Salesforce refused {failed} record(s): see the failures CSV",
        )
    return Verdict("succeeded", 0, "finished: every record is in Salesforce")


FAILURES_HEADER = ("stripe_id", "phase", "sobject", "external_id", "code", "error")


@dataclass(frozen=True)
class FailedRecord:
    object_id: str
    phase: str
    sobject: str
    external_id: str
    code: str
    error: str

    def row(self) -> list[str]:
        return [self.object_id, self.phase, self.sobject, self.external_id, self.code, self.error]
