"""The sync handler: hydrate -> plan -> batch -> execute -> what to record.

All decisions are the domain's (`lookups_needed`, `plan`, `batch`, `records_from_plan`);
this module only moves answers between the boundaries and the planner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

import structlog

from stripe2sf.domain.audit import AuditRecord, OpOutcome, records_from_plan
from stripe2sf.domain.batching import SalesforceCall, batch
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import Lookup, LookupKind, PlanContext, parse_claim_key
from stripe2sf.domain.events import EventView, parse_event
from stripe2sf.domain.lanes import settled_lane
from stripe2sf.domain.lookups import context_for, lookups_needed
from stripe2sf.domain.operations import Plan
from stripe2sf.domain.paths import id_of
from stripe2sf.domain.planner import plan
from stripe2sf.domain.subjects import customer_id_for, fresh_charge
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.email_claims import EmailClaims
from stripe2sf.store.inbox import Applied, Moved, StoredEvent
from stripe2sf.store.ledger import Ledger

log = structlog.get_logger(__name__)

MAX_LOOKUP_ROUNDS = 8


class StripePort(Protocol):
    def answer(self, lookup: Lookup) -> Any: ...


class SalesforceResult(Protocol):
    """What the Salesforce boundary answers for a list of calls."""

    @property
    def outcomes(self) -> Mapping[str, OpOutcome]: ...

    def raise_for_failures(self) -> None: ...


class SalesforcePort(Protocol):
    api_version: str

    def query_all(self, soql: str) -> list[dict[str, Any]]: ...

    def query_many(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]: ...

    def execute(self, calls: Sequence[SalesforceCall]) -> SalesforceResult: ...


class Executed(NamedTuple):
    """A plan sent to Salesforce: the answer (None when there was nothing to send), each
    operation's outcome, the audit records, and how many calls it took."""

    result: SalesforceResult | None
    outcomes: Mapping[str, OpOutcome]
    records: list[AuditRecord]
    calls: int


class SyncHandler:
    """The handler registered for every event type stripe2sf syncs."""

    def __init__(
        self,
        config: SyncConfig,
        stripe: StripePort,
        salesforce: SalesforcePort,
        ledger: Ledger,
        audit: AuditTrail,
        bulk_threshold: int = 2000,
        claims: EmailClaims | None = None,
    ) -> None:
        self.config = config
        self.stripe = stripe
        self.salesforce = salesforce
        self.ledger = ledger
        self.audit = audit
        self.bulk_threshold = bulk_threshold
        self.claims = claims or EmailClaims(ledger.engine)

    def hydrate(self, view: EventView) -> PlanContext:
        """Answer the planner's lookups until it needs nothing more."""
        ctx = context_for(self.config)
        for _ in range(MAX_LOOKUP_ROUNDS):
            needed = [
                lookup
                for lookup in lookups_needed(view, self.config, ctx)
                if not ctx.has(lookup.kind, lookup.key)
            ]
            if not needed:
                return ctx
            stamps = self.ledger.timestamps(x.key for x in needed if x.kind == LookupKind.LEDGER)
            holders = self.claims.claim_many(
                parse_claim_key(x.key) for x in needed if x.kind == LookupKind.EMAIL_CLAIM
            )
            answers: dict[Lookup, Any] = {}
            queries = [lookup for lookup in needed if lookup.is_salesforce]
            for lookup, records in zip(
                queries,
                self.salesforce.query_many([q.soql or "" for q in queries]),
                strict=True,
            ):
                answers[lookup] = records
            for lookup in needed:
                if lookup.kind == LookupKind.LEDGER:
                    answers[lookup] = stamps.get(lookup.key)
                elif lookup.kind == LookupKind.EMAIL_CLAIM:
                    answers[lookup] = holders[parse_claim_key(lookup.key)]
                elif lookup.is_stripe:
                    answers[lookup] = self.stripe.answer(lookup)
            ctx = ctx.with_results(answers)
        raise RuntimeError(f"lookups for {view.id} did not settle in {MAX_LOOKUP_ROUNDS} rounds")

    def plan_event(self, payload: Mapping[str, Any]) -> Plan:
        view = parse_event(payload)
        return plan(view, self.hydrate(view), self.config)

    def execute_plan(self, the_plan: Plan) -> Executed:
        """Batch the plan's operations, send them, and turn the outcomes into audit records."""
        calls = batch(
            the_plan.operations,
            api_version=f"v{self.salesforce.api_version.lstrip('v')}",
            bulk_threshold=self.bulk_threshold,
        )
        result = self.salesforce.execute(calls) if calls else None
        outcomes = result.outcomes if result is not None else {}
        records = records_from_plan(
            the_plan,
            outcomes,
            at=datetime.now(UTC).isoformat(),
            customer_id=the_plan.customer_id,
        )
        return Executed(result, outcomes, records, len(calls))

    def __call__(self, event: StoredEvent) -> Applied | Moved:
        view = parse_event(event.payload)
        ctx = self.hydrate(view)
        charge = fresh_charge(view, ctx)
        lane = settled_lane(
            event.lane, customer_id_for(view, ctx), id_of(charge) if charge else None
        )
        if lane is not None:
            return Moved(lane)
        the_plan = plan(view, ctx, self.config)
        result, outcomes, records, calls = self.execute_plan(the_plan)
        failed = any(not o.ok for o in outcomes.values())
        if failed and result is not None:
            # Record what happened before the worker decides to retry or dead-letter.
            self.audit.add(records)
            result.raise_for_failures()
        log.info(
            "event_synced",
            event_id=event.event_id,
            operations=len(the_plan.operations),
            calls=calls,
            refusals=len(the_plan.refusals),
        )
        return Applied(ledger_updates=the_plan.ledger_updates, audit_records=records)
