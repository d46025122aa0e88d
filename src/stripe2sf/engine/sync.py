"""The sync handler: a wave of events through hydrate -> plan -> merge -> send -> map back.

    hydrate   `engine.hydrate`: every event's lookups, round by round, for the whole wave
    plan      `domain.flows.planner.plan`, each event alone (or moved to its charge's lane)
    merge     `domain.batch.merge`: the wave's operations in order, unchanged writes left out
    send      `engine.send`: as few Salesforce calls as `domain.batch.calls` makes of them
    map back  `engine.map_back`: per-event answers from per-record outcomes; links learned
              or gone, what was written remembered (`store.links`)

The worker (`engine.worker`) claims the lanes, cuts them into waves and records the answers.
All decisions are the domain's; this module moves answers between the boundaries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import structlog

from stripe2sf.domain.audit import AuditRecord, OpOutcome, records_from_plan
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.batch.lanes import settled_lane
from stripe2sf.domain.batch.merge import absent_records, merge, record_key, written_by
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import PlanContext
from stripe2sf.domain.events import EventView, parse_event
from stripe2sf.domain.flows.lookups import context_for
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.flows.subjects import customer_id_for, fresh_charge
from stripe2sf.domain.operations import Plan
from stripe2sf.domain.paths import id_of
from stripe2sf.engine.hydrate import Hydrator
from stripe2sf.engine.map_back import map_back
from stripe2sf.engine.org_profile import org_config
from stripe2sf.engine.ports import SalesforcePort, SalesforceResult, StripePort
from stripe2sf.engine.send import api_version, send
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.email_claims import EmailClaims
from stripe2sf.store.inbox import Applied, Failed, Moved, StoredEvent
from stripe2sf.store.ledger import Ledger
from stripe2sf.store.links import Links

log = structlog.get_logger(__name__)


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
        links: Links | None = None,
    ) -> None:
        self.config = config
        self.stripe = stripe  # its `calls` are the process's Stripe requests (metrics)
        self.salesforce = salesforce
        self.audit = audit
        self.bulk_threshold = bulk_threshold
        self.links = links or Links(ledger.engine)
        self.hydrator = Hydrator(
            config, stripe, salesforce, ledger, claims or EmailClaims(ledger.engine), self.links
        )
        self._names = context_for(config).names
        self._org_read = False

    def _read_org(self) -> None:
        """Decide the `[org]` "auto" settings from the org, once (on the first wave: the
        connection is made on first use)."""
        if not self._org_read:
            self.config = org_config(self.config, self.salesforce)
            self.hydrator.config = self.config
            # the rows read now say more (person accounts: IsPersonAccount, PersonContactId)
            self._names = self.hydrator._names = context_for(self.config).names
            self._org_read = True

    def hydrate(self, view: EventView) -> PlanContext:
        """Answer one event's lookups until it needs nothing more."""
        found = self.hydrator.hydrate_many([view])
        if 0 in found.failed:
            raise found.failed[0]
        return found.contexts[0]

    def plan_event(self, payload: Mapping[str, Any]) -> Plan:
        self._read_org()
        view = parse_event(payload)
        return plan(view, self.hydrate(view), self.config)

    def execute_plan(self, the_plan: Plan) -> Executed:
        """Send one plan as it is (a reconcile repair), and turn the outcomes into audit
        records. What it writes is no longer compared with earlier writes."""
        calls = batch(
            the_plan.operations,
            api_version=api_version(self.salesforce),
            bulk_threshold=self.bulk_threshold,
        )
        result = self.salesforce.execute(calls) if calls else None
        outcomes = result.outcomes if result is not None else {}
        self.links.forget_written(record_key(op) for op in the_plan.operations)
        records = records_from_plan(
            the_plan,
            outcomes,
            at=datetime.now(UTC).isoformat(),
            customer_id=the_plan.customer_id,
        )
        return Executed(result, outcomes, records, len(calls))

    def apply_batch(self, events: Sequence[StoredEvent]) -> list[Applied | Moved | Failed]:
        """Apply a wave (one or more consecutive events of each lane, in lane order); one
        answer per event, in order."""
        try:
            self._read_org()
        except Exception as exc:  # the org could not be read: every event waits for it
            return [Failed(exc) for _ in events]
        results: dict[int, Applied | Moved | Failed] = {}
        views: dict[int, EventView] = {}
        for i, event in enumerate(events):
            try:
                views[i] = parse_event(event.payload)
            except Exception as exc:
                results[i] = Failed(exc)
        # hydrate
        order = sorted(views)
        hydrated = self.hydrator.hydrate_many([views[i] for i in order])
        contexts: dict[int, PlanContext] = {}
        for n, i in enumerate(order):
            if n in hydrated.failed:
                results[i] = Failed(hydrated.failed[n])
            else:
                contexts[i] = hydrated.contexts[n]
        # plan
        plans: dict[int, Plan] = {}
        for i, ctx in contexts.items():
            view = views[i]
            try:
                charge = fresh_charge(view, ctx)
                lane = settled_lane(
                    events[i].lane, customer_id_for(view, ctx), id_of(charge) if charge else None
                )
                if lane is not None:
                    results[i] = Moved(lane)
                    continue
                plans[i] = plan(view, ctx, self.config)
            except Exception as exc:
                results[i] = Failed(exc)
        # merge
        ops = [op for p in plans.values() for op in p.operations]
        written = self.links.written(record_key(op) for op in ops) if ops else {}
        for i, the_plan in plans.items():
            for key in absent_records(contexts[i], the_plan.customer_id, self._names):
                written.pop(key, None)
        merged = merge(sorted(plans.items()), written)
        # send
        sent = send(self.salesforce, merged.operations, self.bulk_threshold)
        self.links.remember_written(written_by(merged.operations, sent.outcomes))
        # map back
        back = map_back(contexts, plans, merged, sent, hydrated.linked, self._names)
        self.links.remember(back.learned)
        if back.gone:
            self.links.forget(back.gone)
            self.links.forget_written(  # what was written to them is gone with them
                f"{sobject}|{self._names.customer_id}|{c}"
                for c in back.gone
                for sobject in ("Account", "Contact")
            )
        results.update(back.results)
        if plans:  # one line per wave (a line per event cost a tenth of the worker's CPU)
            log.info(
                "wave_synced",
                events=len(events),
                event_ids=[events[i].event_id for i in sorted(plans)],
                operations=sum(len(p.operations) for p in plans.values()),
                sent=len(merged.operations),
                calls=hydrated.calls + sent.calls,  # every Salesforce call: reads and writes
                refusals=sum(len(p.refusals) for p in plans.values()),
                failed=sum(1 for i in plans if not isinstance(results[i], Applied)),
            )
        return [results[i] for i in range(len(events))]

    def __call__(self, event: StoredEvent) -> Applied | Moved:
        """One event alone (a wave of one); a failure is recorded in the audit trail and
        raised, as the per-event handlers do."""
        [answer] = self.apply_batch([event])
        if isinstance(answer, Failed):
            if answer.audit_records:
                self.audit.add(answer.audit_records)
            raise answer.error
        return answer
