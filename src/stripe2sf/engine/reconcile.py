"""`stripe2sf reconcile`: read both sides, diff them (`domain.reconcile`), record the run and,
with `fix`, repair every fixable item through the planner: the Stripe object is read again
and planned as the event its state implies (`domain.backfill_plan.synthetic_event`), exactly
as a live event would be, then the diff is taken again to show what remains."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Engine

from stripe2sf.domain.backfill_plan import LIST_PARAMS, synthetic_event
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.reconcile import DriftReport, SalesforceSide, StripeSide, diff, soql_queries
from stripe2sf.engine.sync import SalesforcePort, SyncHandler
from stripe2sf.store.audit_trail import AuditTrail, append
from stripe2sf.store.history import ReconcileStore
from stripe2sf.store.ledger import Ledger, raise_to
from stripe2sf.stripe.reader import StripeReader

log = structlog.get_logger(__name__)

OBJECT_TYPE = {
    "customers": "customer",
    "subscriptions": "subscription",
    "charges": "charge",
    "invoices": "invoice",
}


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

    @property
    def fixed(self) -> int:
        return sum(1 for f in self.fixes if f.ok)

    @property
    def remaining(self) -> int:
        final = self.after if self.after is not None else self.report
        return len(final.drift)


def read_stripe(reader: StripeReader, since: int | None = None) -> StripeSide:
    """Every customer, subscription, charge and invoice (plain dicts, page by page)."""
    side = StripeSide()
    for resource in ("customers", "subscriptions", "charges", "invoices"):
        params: dict[str, Any] = {"limit": 100, **LIST_PARAMS.get(resource, {})}
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
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.salesforce = salesforce
        self.config = config
        self.since = since
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
        return diff(stripe_side, sf_side, self.config, at=datetime.now(UTC).isoformat())

    def fix_one(self, fix_object: str) -> FixOutcome:
        phase, _, object_id = fix_object.partition(":")
        obj = self.reader.retrieve(OBJECT_TYPE[phase], object_id)
        if obj is None:
            return FixOutcome(fix_object, False, "not found in Stripe any more")
        doc = synthetic_event(phase, obj, int(time.time()))
        if doc is None:
            return FixOutcome(fix_object, False, "nothing to sync for its current state")
        the_plan = self.handler.plan_event(doc)
        _, outcomes, records, _ = self.handler.execute_plan(the_plan)
        failed = [o for o in outcomes.values() if not o.ok]
        with self.engine.begin() as conn:
            append(conn, records)
            if not failed:
                raise_to(conn, the_plan.ledger_updates, the_plan.event_id, datetime.now(UTC))
        if failed:
            return FixOutcome(fix_object, False, f"{failed[0].code}: {failed[0].error}")
        return FixOutcome(fix_object, True)

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
            outcome.after = self.compare()
        outcome.run_id = ReconcileStore(self.engine).record(
            started_at=started,
            fix=fix,
            drift=len(report.drift),
            fixed=outcome.fixed,
            remaining=outcome.remaining,
            counts=report.counts(),
            report_path=report_path,
        )
        return outcome
