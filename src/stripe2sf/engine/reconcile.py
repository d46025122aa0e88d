"""`stripe2sf reconcile`: read both sides, diff them (`domain.reconcile.drift`), record the run,
raise (or clear) the drift alert and, with `fix`, repair every fixable item through the planner: the
Stripe object is read again and planned as the event its state implies
(`domain.reconcile.drift.fix_event`), exactly as a live event would be, then the diff is taken again
to show what remains. Duplicate Contacts are never merged or deleted: `fix` opens a review Task
for each email instead (`domain.reconcile.drift.review_plan`).

Reads stay cheap: one paged Stripe list per object kind (customers with their default payment
method expanded, subscriptions, charges, invoices, disputes), one SOQL per record kind, and one
Stripe read per Account whose customer is absent from the list and not yet marked deleted."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine

from stripe2sf.domain.backfill.plan import LIST_PARAMS
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.operations import Plan
from stripe2sf.domain.reconcile.drift import (
    FIX_OBJECT_TYPES,
    DriftReport,
    SalesforceSide,
    StripeSide,
    diff,
    fix_event,
    review_plan,
    soql_queries,
    unlisted_customers,
)
from stripe2sf.engine.org_profile import org_config
from stripe2sf.engine.ports import SalesforcePort
from stripe2sf.engine.sync import Executed, SyncHandler
from stripe2sf.store.audit_trail import AuditTrail, append
from stripe2sf.store.history import ReconcileItem, ReconcileStore
from stripe2sf.store.ledger import Ledger, raise_to
from stripe2sf.store.reports import Reports
from stripe2sf.stripe.reader import StripeReader

log = structlog.get_logger(__name__)

# Stripe lists read, with the backfill's extra parameters: customers with their default payment
# method (or legacy default source) expanded, so the card on file is compared without a read
# per customer.
STRIPE_LISTS: Mapping[str, Mapping[str, Any]] = {
    "customers": LIST_PARAMS["customers"],
    "subscriptions": LIST_PARAMS["subscriptions"],
    "charges": {},
    "invoices": {},
    "disputes": {},
}

# Called after each run: (run id, drift found, records compared, previous run's drift or None).
DriftHook = Callable[[int, int, int, int | None], None]


@dataclass
class FixOutcome:
    item: str
    ok: bool
    error: str | None = None


@dataclass
class ReconcileOutcome:
    report: DriftReport
    after: DriftReport | None = None
    fixes: list[FixOutcome] = field(default_factory=list)
    run_id: int | None = None
    # review Tasks opened for duplicate Contacts (their dedupe keys), or why that failed
    reviews: list[FixOutcome] = field(default_factory=list)

    @property
    def fixed(self) -> int:
        return sum(1 for f in self.fixes if f.ok)

    @property
    def remaining(self) -> int:
        final = self.after if self.after is not None else self.report
        return len(final.drift)


def drift_items(report: DriftReport, fixes: list[FixOutcome]) -> list[ReconcileItem]:
    """The report's items as recorded with the run, each with whether `--fix` repaired its
    Stripe object (None: not tried)."""
    fixed = {f.item: f.ok for f in fixes}
    return [
        ReconcileItem(
            kind=d.kind,
            stripe_id=d.stripe_id,
            customer_id=d.customer_id,
            salesforce_id=d.salesforce_id,
            expected=d.expected,
            actual=d.actual,
            fixable=d.fixable,
            fix_object=d.fix_object,
            fixed=fixed.get(d.fix_object) if d.fix_object else None,
        )
        for d in report.items
    ]


def read_stripe(reader: StripeReader, since: int | None = None) -> StripeSide:
    """Every customer, subscription, charge, invoice and dispute (plain dicts, page by page)."""
    side = StripeSide()
    for resource, extra in STRIPE_LISTS.items():
        params: dict[str, Any] = {"limit": 100, **extra}
        if since is not None:
            params["created"] = {"gte": since}
        target: list[Mapping[str, Any]] = getattr(side, resource)
        while True:
            page, more = reader.list_page(resource, params)
            target.extend(page)
            if not more or not page:
                break
            params["starting_after"] = page[-1]["id"]
    return side


def read_unlisted(reader: StripeReader, stripe: StripeSide, ids: list[str]) -> None:
    """Sort customers linked to an Account but absent from the list into deleted (Stripe
    answers `deleted: true`) and unknown (404)."""
    for cid in ids:
        obj = reader.retrieve("customer", cid)
        if obj is None:
            stripe.unknown_customers.append(cid)
        elif obj.get("deleted"):
            stripe.deleted_customers.append(cid)


def read_salesforce(salesforce: SalesforcePort, config: SyncConfig) -> SalesforceSide:
    queries = soql_queries(config)
    rows: dict[str, list[Mapping[str, Any]]] = {
        name: list(salesforce.query_all(q)) for name, q in queries.items()
    }
    return SalesforceSide(**rows)


class Reconciler:
    def __init__(
        self,
        engine: Engine,
        reader: StripeReader,
        salesforce: SalesforcePort,
        config: SyncConfig,
        since: int | None = None,
        on_drift: DriftHook | None = None,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.salesforce = salesforce
        self.config = config = org_config(config, salesforce)
        self.since = since
        self.on_drift = on_drift
        self.handler = SyncHandler(
            config,
            reader,
            salesforce,
            Ledger(engine),
            AuditTrail(engine),
            bulk_threshold=config.sync.bulk_threshold,
        )

    def compare(self) -> DriftReport:
        stripe_side = read_stripe(self.reader, self.since)
        sf_side = read_salesforce(self.salesforce, self.config)
        if self.since is None:  # with --since, older customers are unlisted too: not read
            read_unlisted(
                self.reader, stripe_side, unlisted_customers(stripe_side, sf_side, self.config)
            )
        return diff(stripe_side, sf_side, self.config, at=datetime.now(UTC).isoformat())

    def _execute(self, the_plan: Plan, sent: Executed | None = None) -> FixOutcome | None:
        """Send a plan (unless ``sent`` says how it went), audit it, raise the ledger when it
        all succeeded; None when it did."""
        _, outcomes, records, _ = sent if sent is not None else self.handler.execute_plan(the_plan)
        failed = [o for o in outcomes.values() if not o.ok]
        with self.engine.begin() as conn:
            append(conn, records)
            if not failed:
                raise_to(conn, the_plan.ledger_updates, the_plan.event_id, datetime.now(UTC))
        if failed:
            return FixOutcome(the_plan.event_id, False, f"{failed[0].code}: {failed[0].error}")
        return None

    def fix_one(self, fix_object: str) -> FixOutcome:
        phase, _, object_id = fix_object.partition(":")
        obj = self.reader.retrieve(FIX_OBJECT_TYPES[phase], object_id)
        if obj is None:
            return FixOutcome(fix_object, False, "not found in Stripe any more")
        doc = fix_event(phase, obj, int(time.time()))
        if doc is None:
            return FixOutcome(fix_object, False, "nothing to sync for its current state")
        failed = self._execute(*self.handler.apply_document(doc))  # duplicate rules too
        if failed is not None:
            return FixOutcome(fix_object, False, failed.error)
        return FixOutcome(fix_object, True)

    def open_reviews(self, report: DriftReport) -> list[FixOutcome]:
        """A review Task per email with duplicate Contacts that has none yet."""
        the_plan = review_plan(report, self.config)
        if the_plan is None:
            return []
        failed = self._execute(the_plan)
        return [
            FixOutcome(op.key_value, failed is None, failed.error if failed else None)
            for op in the_plan.operations
        ]

    def run(self, fix: bool = False, report_path: str | None = None) -> ReconcileOutcome:
        started = datetime.now(UTC)
        report = self.compare()
        outcome = ReconcileOutcome(report)
        if fix:
            targets = list(dict.fromkeys(d.fix_object for d in report.fixable() if d.fix_object))
            for target in targets:
                try:
                    outcome.fixes.append(self.fix_one(target))
                except Exception as exc:  # one object's failure must not stop the others
                    log.warning("reconcile_fix_failed", target=target, error=str(exc))
                    outcome.fixes.append(FixOutcome(target, False, str(exc)))
            try:
                outcome.reviews = self.open_reviews(report)
            except Exception as exc:
                log.warning("reconcile_review_failed", error=str(exc))
                outcome.reviews = [FixOutcome("review Tasks", False, str(exc))]
            outcome.after = self.compare()
        previous = Reports(self.engine).reconcile_runs(limit=1)
        outcome.run_id = ReconcileStore(self.engine).record(
            started_at=started,
            fix=fix,
            drift=len(report.drift),
            fixed=outcome.fixed,
            remaining=outcome.remaining,
            counts=report.counts(),
            report_path=report_path,
            items=drift_items(report, outcome.fixes),
        )
        if self.on_drift is not None:
            before = int(previous[0].get("drift") or 0) if previous else None
            try:
                self.on_drift(
                    outcome.run_id, len(report.drift), sum(report.checked.values()), before
                )
            except Exception as exc:  # an unreachable mail server must not lose the report
                log.error("reconcile_alert_failed", error=str(exc))
        return outcome
